//! Which server processes run on this database: each announces itself about once a second, so
//! that work shared out among them (an upstream's calls at once) is split by how many run.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp as SqlTimestamp};
use pdx_core::Timestamp;

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::schema::server_processes;

/// A process not seen for this long is taken to have stopped.
pub const STALE_AFTER: chrono::Duration = chrono::Duration::seconds(5);
/// A stopped process's row is removed after this long (kept a while for operators).
const FORGOTTEN_AFTER: chrono::Duration = chrono::Duration::hours(1);

/// How many processes run, and where this one stands among them (by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roster {
    /// This process's place, from 0.
    pub rank: u32,
    /// Processes running, this one included.
    pub count: u32,
}

impl Roster {
    /// A process alone.
    pub const ALONE: Self = Self { rank: 0, count: 1 };

    /// This process's part of `total`: the total split evenly, the first `total % count`
    /// processes taking one more, so that the parts add up to `total`; at least one.
    pub fn share(self, total: u32) -> u32 {
        let count = self.count.max(1);
        let extra = u32::from(self.rank < total % count);
        (total / count + extra).max(1)
    }
}

/// A process as it last announced itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// Its name (see [`crate::lease::holder_name`]).
    pub name: String,
    /// When it first announced itself.
    pub started_at: Timestamp,
    /// When it last did.
    pub seen_at: Timestamp,
}

/// Announces the process `name` as running at `now` and returns the roster of the processes
/// running, forgetting those stopped long ago.
pub fn announce(
    conn: &mut DbConnection,
    name: &str,
    now: Timestamp,
) -> Result<Roster, StorageError> {
    let naive = now.naive_utc();
    diesel::delete(
        server_processes::table
            .filter(server_processes::seen_at.lt((now - FORGOTTEN_AFTER).naive_utc())),
    )
    .execute(conn)?;
    diesel::sql_query(
        "INSERT INTO server_processes (name, started_at, seen_at) VALUES ($1, $2, $2) \
         ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at",
    )
    .bind::<Text, _>(name)
    .bind::<SqlTimestamp, _>(naive)
    .execute(conn)?;
    let running: Vec<String> = server_processes::table
        .filter(server_processes::seen_at.ge((now - STALE_AFTER).naive_utc()))
        .select(server_processes::name)
        .order(server_processes::name)
        .load(conn)?;
    let count = u32::try_from(running.len()).unwrap_or(u32::MAX).max(1);
    let rank = running
        .iter()
        .position(|n| n == name)
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(0);
    Ok(Roster { rank, count })
}

/// Says that the process `name` stops, so that the others share its part out at once.
pub fn withdraw(conn: &mut DbConnection, name: &str) -> Result<(), StorageError> {
    diesel::delete(server_processes::table.filter(server_processes::name.eq(name)))
        .execute(conn)?;
    Ok(())
}

/// The processes seen within [`STALE_AFTER`] of `now`, by name.
pub fn running(conn: &mut DbConnection, now: Timestamp) -> Result<Vec<Presence>, StorageError> {
    let rows: Vec<(String, NaiveDateTime, NaiveDateTime)> = server_processes::table
        .filter(server_processes::seen_at.ge((now - STALE_AFTER).naive_utc()))
        .select((
            server_processes::name,
            server_processes::started_at,
            server_processes::seen_at,
        ))
        .order(server_processes::name)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(name, started_at, seen_at)| Presence {
            name,
            started_at: started_at.and_utc(),
            seen_at: seen_at.and_utc(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_total_and_none_is_empty() {
        for total in 1..=40 {
            for count in 1..=7 {
                let shares: Vec<u32> = (0..count)
                    .map(|rank| Roster { rank, count }.share(total))
                    .collect();
                if total >= count {
                    assert_eq!(shares.iter().sum::<u32>(), total, "{total} over {count}");
                }
                assert!(shares.iter().all(|&s| s >= 1));
                let (min, max) = (shares.iter().min(), shares.iter().max());
                assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1));
            }
        }
        assert_eq!(Roster::ALONE.share(16), 16);
    }
}

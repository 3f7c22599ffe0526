//! Leases: work that one server process at a time does (signing checkpoints), held through
//! the database. The holder renews its lease while it lives; when it stops renewing (it died,
//! or lost the database), another process takes the work over once the lease has expired.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp as SqlTimestamp};
use pdx_core::Timestamp;

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::schema::leases;

/// Who holds a lease, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// The holder's name (see [`holder_name`]).
    pub holder: String,
    /// When the holder took it.
    pub acquired_at: Timestamp,
    /// When it lapses unless renewed.
    pub expires_at: Timestamp,
}

/// A name for this process, for lease rows and operators: host, process id and a random part
/// (so a restarted process with a reused id is another holder).
pub fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &random[..8])
}

/// Takes or renews the lease `name` for `holder` until `now + ttl`: whether `holder` holds it
/// now. It is taken when nobody holds it, when `holder` already does, or when its holder let
/// it expire.
pub fn hold(
    conn: &mut DbConnection,
    name: &str,
    holder: &str,
    now: Timestamp,
    ttl: chrono::Duration,
) -> Result<bool, StorageError> {
    let expires = (now + ttl).naive_utc();
    let now = now.naive_utc();
    let taken = diesel::sql_query(
        "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(holder)
    .bind::<SqlTimestamp, _>(now)
    .bind::<SqlTimestamp, _>(expires)
    .execute(conn)?;
    if taken == 1 {
        return Ok(true);
    }
    // Renewed by its holder (keeping when it was taken), or taken over once expired.
    let renewed = diesel::update(
        leases::table
            .filter(leases::name.eq(name))
            .filter(leases::holder.eq(holder)),
    )
    .set(leases::expires_at.eq(expires))
    .execute(conn)?;
    if renewed == 1 {
        return Ok(true);
    }
    let taken_over = diesel::update(
        leases::table
            .filter(leases::name.eq(name))
            .filter(leases::expires_at.lt(now)),
    )
    .set((
        leases::holder.eq(holder),
        leases::acquired_at.eq(now),
        leases::expires_at.eq(expires),
    ))
    .execute(conn)?;
    Ok(taken_over == 1)
}

/// Gives the lease up at once (at shutdown), if `holder` holds it.
pub fn release(conn: &mut DbConnection, name: &str, holder: &str) -> Result<(), StorageError> {
    diesel::delete(
        leases::table
            .filter(leases::name.eq(name))
            .filter(leases::holder.eq(holder)),
    )
    .execute(conn)?;
    Ok(())
}

/// Who holds the lease `name`, if anyone ever took it.
pub fn holding(conn: &mut DbConnection, name: &str) -> Result<Option<Holding>, StorageError> {
    let row: Option<(String, NaiveDateTime, NaiveDateTime)> = leases::table
        .filter(leases::name.eq(name))
        .select((leases::holder, leases::acquired_at, leases::expires_at))
        .first(conn)
        .optional()?;
    Ok(row.map(|(holder, acquired_at, expires_at)| Holding {
        holder,
        acquired_at: acquired_at.and_utc(),
        expires_at: expires_at.and_utc(),
    }))
}

//! The table `upstream_circuits`: the circuits a server process opened, so that every process
//! holds calls to a failing upstream off, and lets them through again once a probe got through.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp as SqlTimestamp};
use pdx_core::{DistributionId, Timestamp};
use pdx_storage::DbConnection;
use pdx_storage::schema::upstream_circuits;

use crate::breaker::{Remote, Shared};
use crate::error::GatewayError;

/// Open circuits whose cool-down ended this long ago are removed.
const FORGOTTEN_AFTER: chrono::Duration = chrono::Duration::days(1);

/// One upstream's circuit as this process tells it and learns it.
#[derive(Debug, Clone)]
pub(crate) struct Exchanged {
    pub distribution_id: DistributionId,
    /// The configuration the circuit belongs to: a new configuration starts closed.
    pub configured_at: Timestamp,
    /// The change to tell, if any.
    pub told: Option<Shared>,
}

/// Tells the other processes what changed here and returns each circuit as they left it, in
/// the order given.
pub(crate) fn exchange(
    conn: &mut DbConnection,
    holder: &str,
    now: Timestamp,
    circuits: &[Exchanged],
) -> Result<Vec<Remote>, GatewayError> {
    diesel::delete(
        upstream_circuits::table
            .filter(upstream_circuits::open_until.lt((now - FORGOTTEN_AFTER).naive_utc())),
    )
    .execute(conn)?;
    for circuit in circuits {
        let id = circuit.distribution_id.to_string();
        let configured_at = circuit.configured_at.naive_utc();
        match circuit.told {
            None => {}
            Some(Shared::Open(remaining)) => {
                let until = now + chrono::Duration::from_std(remaining).unwrap_or_default();
                // Only for the configuration still in force: a circuit of a replaced one is
                // not carried over.
                diesel::sql_query(
                    "INSERT INTO upstream_circuits \
                     (distribution_id, configured_at, open_until, opened_by) \
                     SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM api_upstreams \
                     WHERE distribution_id = $1 AND updated_at = $2) \
                     ON CONFLICT (distribution_id) DO UPDATE SET \
                     configured_at = excluded.configured_at, open_until = excluded.open_until, \
                     opened_by = excluded.opened_by",
                )
                .bind::<Text, _>(&id)
                .bind::<SqlTimestamp, _>(configured_at)
                .bind::<SqlTimestamp, _>(until.naive_utc())
                .bind::<Text, _>(holder)
                .execute(conn)?;
            }
            Some(Shared::Closed) => {
                diesel::delete(
                    upstream_circuits::table
                        .filter(upstream_circuits::distribution_id.eq(&id))
                        .filter(upstream_circuits::configured_at.eq(configured_at)),
                )
                .execute(conn)?;
            }
        }
    }
    let ids: Vec<String> = circuits
        .iter()
        .map(|c| c.distribution_id.to_string())
        .collect();
    let open: Vec<(String, NaiveDateTime, NaiveDateTime)> = upstream_circuits::table
        .filter(upstream_circuits::distribution_id.eq_any(&ids))
        .select((
            upstream_circuits::distribution_id,
            upstream_circuits::configured_at,
            upstream_circuits::open_until,
        ))
        .load(conn)?;
    Ok(circuits
        .iter()
        .zip(&ids)
        .map(|(circuit, id)| {
            let found = open.iter().find(|(found, configured_at, _)| {
                found == id && configured_at.and_utc() == circuit.configured_at
            });
            match found {
                None => Remote::Closed,
                Some((_, _, until)) => match (until.and_utc() - now).to_std() {
                    Ok(remaining) if !remaining.is_zero() => Remote::Open(remaining),
                    _ => Remote::Lapsed,
                },
            }
        })
        .collect())
}

//! Generation counters of cached state. Each kind of state that a server process caches (the
//! catalog, organisations, licensing) has a counter that every write to it bumps inside the
//! writing transaction. A cache stamped with the counters it was filled under is current while
//! they have not moved — across every server process sharing the database.

use diesel::prelude::*;

use crate::schema::state_generations;
use crate::{DbConnection, StorageError};

/// The catalog's datasets, distributions and their terms.
pub const CATALOG: &str = "catalog";
/// Organisations (their verification in particular).
pub const ORGANIZATIONS: &str = "organizations";
/// Licences and grants.
pub const LICENSING: &str = "licensing";
/// Revocations of access tokens.
pub const ACCESS: &str = "access";

/// Marks the state `name` changed, inside the caller's transaction.
pub fn bump(conn: &mut DbConnection, name: &str) -> Result<(), StorageError> {
    let changed = diesel::update(state_generations::table.find(name))
        .set(state_generations::generation.eq(state_generations::generation + 1))
        .execute(conn)?;
    if changed == 1 {
        Ok(())
    } else {
        Err(StorageError::CorruptRow(format!(
            "state_generations has no counter `{name}`"
        )))
    }
}

/// The current generation of the state `name`.
pub fn current(conn: &mut DbConnection, name: &str) -> Result<i64, StorageError> {
    Ok(state_generations::table
        .find(name)
        .select(state_generations::generation)
        .first(conn)?)
}

/// Every counter at once, in name order: equal snapshots mean nothing cached has changed.
pub fn snapshot(conn: &mut DbConnection) -> Result<Vec<i64>, StorageError> {
    Ok(state_generations::table
        .order(state_generations::name)
        .select(state_generations::generation)
        .load(conn)?)
}

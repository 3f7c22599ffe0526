//! The identity of this PDX installation, created once when the database is first set up.
//! It names the installation in status reports and lets operators tell databases apart.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use pdx_core::{InstanceId, Timestamp};

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::schema::instance;

/// This installation's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Fixed for the life of the database.
    pub id: InstanceId,
    /// When the database was first set up.
    pub created_at: Timestamp,
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = instance)]
struct InstanceRow {
    singleton: i32,
    id: String,
    created_at: NaiveDateTime,
}

impl TryFrom<InstanceRow> for Instance {
    type Error = StorageError;

    fn try_from(row: InstanceRow) -> Result<Self, StorageError> {
        let id = row
            .id
            .parse()
            .map_err(|e| StorageError::CorruptRow(format!("instance.id: {e}")))?;
        Ok(Self {
            id,
            created_at: row.created_at.and_utc(),
        })
    }
}

/// Reads this installation's identity.
pub fn load(conn: &mut DbConnection) -> Result<Instance, StorageError> {
    instance::table
        .select((instance::singleton, instance::id, instance::created_at))
        .first::<InstanceRow>(conn)?
        .try_into()
}

/// Reads the identity, creating it first if the database is new. Safe when several servers
/// start at once: the loser of the insert race reads the winner's row.
pub fn ensure(conn: &mut DbConnection, now: Timestamp) -> Result<Instance, StorageError> {
    match load(conn) {
        Err(StorageError::NotFound) => {}
        found => return found,
    }
    let row = InstanceRow {
        singleton: 1,
        id: InstanceId::new().to_string(),
        created_at: now.naive_utc(),
    };
    match diesel::insert_into(instance::table)
        .values(&row)
        .execute(conn)
    {
        Ok(_)
        | Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => load(conn),
        Err(other) => Err(other.into()),
    }
}

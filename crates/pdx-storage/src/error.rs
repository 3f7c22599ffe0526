//! The one error type of the storage layer; domain crates wrap it with `#[from]`.
//! It names the conditions callers act on (not found, conflicts, overload) and hides the rest.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The row asked for does not exist.
    #[error("record not found")]
    NotFound,
    /// An insert or update collided with a unique constraint.
    #[error("unique constraint violated{}", constraint_suffix(.constraint))]
    UniqueViolation {
        /// The constraint (PostgreSQL) or the columns (SQLite), when the database names them.
        constraint: Option<String>,
    },
    /// A row refers to a row that does not exist, or is still referred to.
    #[error("foreign key constraint violated{}", constraint_suffix(.constraint))]
    ForeignKeyViolation {
        /// The constraint, when the database names it.
        constraint: Option<String>,
    },
    /// A CHECK or NOT NULL constraint refused the row.
    #[error("check constraint violated: {0}")]
    CheckViolation(String),
    /// Every pooled connection is in use and none came free in time.
    #[error("no database connection available (pool exhausted)")]
    PoolExhausted,
    /// More work is queued for the database than this process accepts; retry shortly.
    #[error("too much work is queued for the database (overloaded)")]
    Overloaded,
    /// The database is busy with a competing writer or a serialization conflict; retry.
    #[error("database busy: {0}")]
    Busy(String),
    /// The database could not be reached or refused the connection.
    #[error("database unavailable: {0}")]
    Connection(String),
    /// The database is known to be unreachable (the breaker is open): refused without trying.
    #[error("database unreachable: {0}")]
    Unreachable(String),
    /// The configured database URL is not usable.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A blocking database task could not be run to completion.
    #[error("database task failed: {0}")]
    Task(String),
    /// A stored value could not be read back into its domain type.
    #[error("stored value is invalid: {0}")]
    CorruptRow(String),
    /// Any other database error.
    #[error(transparent)]
    Query(DieselError),
}

fn constraint_suffix(constraint: &Option<String>) -> String {
    constraint
        .as_deref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default()
}

impl StorageError {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::PoolExhausted
                | Self::Overloaded
                | Self::Busy(_)
                | Self::Connection(_)
                | Self::Unreachable(_)
        )
    }
}

impl From<DieselError> for StorageError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(kind, info) => {
                let constraint = info
                    .constraint_name()
                    .map(str::to_owned)
                    .or_else(|| sqlite_constraint_columns(info.message()));
                match kind {
                    DatabaseErrorKind::UniqueViolation => Self::UniqueViolation { constraint },
                    DatabaseErrorKind::ForeignKeyViolation => {
                        Self::ForeignKeyViolation { constraint }
                    }
                    DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                        Self::CheckViolation(info.message().to_owned())
                    }
                    DatabaseErrorKind::SerializationFailure => {
                        Self::Busy(info.message().to_owned())
                    }
                    DatabaseErrorKind::ClosedConnection
                    | DatabaseErrorKind::UnableToSendCommand => {
                        Self::Connection(info.message().to_owned())
                    }
                    _ if is_sqlite_busy(info.message()) => Self::Busy(info.message().to_owned()),
                    _ => Self::Query(DieselError::DatabaseError(kind, info)),
                }
            }
            other => Self::Query(other),
        }
    }
}

impl From<r2d2::Error> for StorageError {
    fn from(error: r2d2::Error) -> Self {
        // r2d2 reports a plain timeout when every connection was busy, and appends the last
        // connection error when it could not open new ones.
        let message = error.to_string();
        if message == "timed out waiting for connection" {
            Self::PoolExhausted
        } else {
            Self::Connection(message)
        }
    }
}

fn is_sqlite_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database table is locked")
}

/// SQLite names the columns, not the constraint: "UNIQUE constraint failed: users.email".
fn sqlite_constraint_columns(message: &str) -> Option<String> {
    message
        .split_once("constraint failed: ")
        .map(|(_, columns)| columns.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_constraint_columns_are_extracted_from_the_message() {
        assert_eq!(
            sqlite_constraint_columns("UNIQUE constraint failed: users.email").as_deref(),
            Some("users.email")
        );
        assert_eq!(
            sqlite_constraint_columns("FOREIGN KEY constraint failed"),
            None
        );
    }

    #[test]
    fn not_found_maps_to_not_found() {
        assert!(matches!(
            StorageError::from(DieselError::NotFound),
            StorageError::NotFound
        ));
    }
}

//! The embedded migrations of both backends, how they are applied, and the check that the
//! two folders hold the same migrations (a drift would give the backends different schemas).

use std::collections::BTreeSet;
use std::fmt;

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::sqlite::Sqlite;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::connection::DbConnection;
use crate::error::StorageError;

/// Migrations for SQLite, from `migrations/sqlite`.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
/// Migrations for PostgreSQL, from `migrations/postgres`.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Advisory-lock key that serialises migrations when several servers start at once.
const MIGRATION_LOCK_KEY: i64 = 0x5044_585f_4d49_4752; // "PDX_MIGR"

/// Applies every pending migration for the connection's backend; returns the names applied.
pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, StorageError> {
    let migration_error =
        |e: Box<dyn std::error::Error + Send + Sync>| StorageError::Migration(e.to_string());
    let applied = match conn {
        DbConnection::Sqlite(conn) => conn
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map_err(migration_error)?
            .iter()
            .map(ToString::to_string)
            .collect(),
        DbConnection::Postgres(conn) => {
            conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            let result = conn
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|versions| versions.iter().map(ToString::to_string).collect());
            conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
            result.map_err(migration_error)?
        }
    };
    Ok(applied)
}

/// The names of the migrations not yet applied to the connection's database.
pub fn pending(conn: &mut DbConnection) -> Result<Vec<String>, StorageError> {
    let migration_error =
        |e: Box<dyn std::error::Error + Send + Sync>| StorageError::Migration(e.to_string());
    Ok(match conn {
        DbConnection::Sqlite(conn) => conn
            .pending_migrations(SQLITE_MIGRATIONS)
            .map_err(migration_error)?
            .iter()
            .map(|m| m.name().to_string())
            .collect(),
        DbConnection::Postgres(conn) => conn
            .pending_migrations(POSTGRES_MIGRATIONS)
            .map_err(migration_error)?
            .iter()
            .map(|m| m.name().to_string())
            .collect(),
    })
}

/// The names of the embedded SQLite migrations, in order.
pub fn sqlite_migration_names() -> Result<Vec<String>, StorageError> {
    names(MigrationSource::<Sqlite>::migrations(&SQLITE_MIGRATIONS))
}

/// The names of the embedded PostgreSQL migrations, in order.
pub fn postgres_migration_names() -> Result<Vec<String>, StorageError> {
    names(MigrationSource::<Pg>::migrations(&POSTGRES_MIGRATIONS))
}

fn names<DB: diesel::backend::Backend>(
    migrations: diesel::migration::Result<Vec<Box<dyn diesel::migration::Migration<DB>>>>,
) -> Result<Vec<String>, StorageError> {
    let migrations = migrations.map_err(|e| StorageError::Migration(e.to_string()))?;
    let mut names: Vec<String> = migrations.iter().map(|m| m.name().to_string()).collect();
    names.sort();
    Ok(names)
}

/// Migrations present for one backend but not the other.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MigrationDrift {
    /// Names only under `migrations/sqlite`.
    pub only_sqlite: Vec<String>,
    /// Names only under `migrations/postgres`.
    pub only_postgres: Vec<String>,
}

impl fmt::Display for MigrationDrift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "migrations differ between backends: only in sqlite {:?}, only in postgres {:?}",
            self.only_sqlite, self.only_postgres
        )
    }
}

/// Compares two sets of migration names; both backends must have exactly the same ones.
pub fn check_parity(sqlite: &[String], postgres: &[String]) -> Result<(), MigrationDrift> {
    let sqlite: BTreeSet<&String> = sqlite.iter().collect();
    let postgres: BTreeSet<&String> = postgres.iter().collect();
    let drift = MigrationDrift {
        only_sqlite: sqlite.difference(&postgres).map(|s| (*s).clone()).collect(),
        only_postgres: postgres.difference(&sqlite).map(|s| (*s).clone()).collect(),
    };
    if drift == MigrationDrift::default() {
        Ok(())
    } else {
        Err(drift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn embedded_migrations_have_the_same_names_on_both_backends() {
        let sqlite = sqlite_migration_names();
        let postgres = postgres_migration_names();
        let (Ok(sqlite), Ok(postgres)) = (sqlite, postgres) else {
            panic!("embedded migrations could not be listed");
        };
        assert!(!sqlite.is_empty());
        if let Err(drift) = check_parity(&sqlite, &postgres) {
            panic!("{drift}");
        }
        // The timestamp is the migration's version: two with one timestamp, and one is skipped.
        let mut versions: Vec<&str> = sqlite
            .iter()
            .map(|name| name.split('_').next().unwrap_or(name))
            .collect();
        let before = versions.len();
        versions.dedup();
        assert_eq!(
            versions.len(),
            before,
            "two migrations share a timestamp: {sqlite:?}"
        );
    }

    #[test]
    fn check_parity_reports_a_migration_missing_on_one_side() {
        let sqlite = owned(&["2026-01-01-000000_create_a", "2026-01-02-000000_create_b"]);
        let postgres = owned(&["2026-01-01-000000_create_a", "2026-01-03-000000_create_c"]);
        assert_eq!(
            check_parity(&sqlite, &postgres),
            Err(MigrationDrift {
                only_sqlite: owned(&["2026-01-02-000000_create_b"]),
                only_postgres: owned(&["2026-01-03-000000_create_c"]),
            })
        );
        assert_eq!(check_parity(&sqlite, &sqlite), Ok(()));
    }

    #[test]
    fn every_migration_folder_has_up_and_down_and_a_conventional_name() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        for backend in ["sqlite", "postgres"] {
            let Ok(entries) = std::fs::read_dir(root.join(backend)) else {
                panic!("migrations/{backend} is missing");
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let well_named = name.len() > 18
                    && name.as_bytes()[17] == b'_'
                    && name[..17].bytes().all(|b| b.is_ascii_digit() || b == b'-');
                assert!(
                    well_named,
                    "{backend}/{name} is not YYYY-MM-DD-HHMMSS_verb_noun"
                );
                for file in ["up.sql", "down.sql"] {
                    assert!(
                        entry.path().join(file).is_file(),
                        "{backend}/{name}/{file} missing"
                    );
                }
            }
        }
    }
}

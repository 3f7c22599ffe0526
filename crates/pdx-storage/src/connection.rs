//! The connection type shared by every query in PDX, and how a database URL picks its backend.
//! The backend is chosen explicitly from the URL scheme so that connection errors stay specific.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;

use crate::error::StorageError;

/// How long a SQLite connection waits for a competing writer before giving up.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The page cache of each SQLite connection, in KiB (SQLite's own default is about 2 MB).
/// A pool holds up to 16 connections, each filling its own cache with the same file's
/// pages, which the kernel's page cache holds once anyway: at 2 MB, random reads across
/// 100,000 datasets raised the server's memory by 45–50 MiB; at 256 KiB, by about 10, with
/// the same throughput of dataset pages and ledgered downloads (BENCHMARKS.md).
const SQLITE_CACHE_KIB: u32 = 256;

/// One connection to either backend; every query in PDX is written once against this type.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// The embedded default.
    Sqlite(SqliteConnection),
    /// The production and scale-out backend.
    Postgres(PgConnection),
}

impl fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DbConnection")
            .field(&self.backend())
            .finish()
    }
}

impl DbConnection {
    /// Which backend this connection talks to.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Opens a connection, configured as PDX expects (SQLite: WAL, busy timeout, foreign keys).
    pub fn open(url: &DatabaseUrl) -> Result<Self, StorageError> {
        match url {
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_str().ok_or_else(|| {
                    StorageError::InvalidUrl(format!(
                        "the SQLite path {} is not valid UTF-8",
                        path.display()
                    ))
                })?;
                let mut conn = SqliteConnection::establish(path)
                    .map_err(|e| StorageError::Connection(e.to_string()))?;
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA temp_store = MEMORY; PRAGMA cache_size = -{};",
                    SQLITE_BUSY_TIMEOUT.as_millis(),
                    SQLITE_CACHE_KIB
                ))
                .map_err(|e| StorageError::Connection(e.to_string()))?;
                Ok(Self::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => PgConnection::establish(url)
                .map(Self::Postgres)
                .map_err(|e| StorageError::Connection(e.to_string())),
        }
    }
}

/// The two database engines PDX runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite, embedded, a file in the data directory.
    Sqlite,
    /// PostgreSQL (and PostgreSQL-compatible engines).
    Postgres,
}

impl Backend {
    /// The backend's lowercase name, as shown to operators.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed database location: `sqlite://PATH`, `sqlite:PATH`, a bare path, or `postgres://…`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL, passed to libpq unchanged.
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses a database URL, choosing the backend from its scheme.
    pub fn parse(url: &str) -> Result<Self, StorageError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(StorageError::InvalidUrl("the database URL is empty".into()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let path = if let Some(rest) = url.strip_prefix("sqlite://") {
            rest
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            rest
        } else if let Some((scheme, _)) = url.split_once("://") {
            return Err(StorageError::InvalidUrl(format!(
                "unsupported database scheme `{scheme}`: use sqlite://PATH or postgres://…"
            )));
        } else {
            url
        };
        if path.is_empty() || path == ":memory:" {
            return Err(StorageError::InvalidUrl(
                "a SQLite database needs a file path (an in-memory database is not shared by a pool)"
                    .into(),
            ));
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// A SQLite URL for a file path.
    pub fn sqlite(path: impl AsRef<Path>) -> Self {
        Self::Sqlite(path.as_ref().to_path_buf())
    }

    /// The full URL, password included, for handing to a child process or configuration.
    /// Use `Display` for anything that may be logged.
    pub fn to_connection_string(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres(url) => url.clone(),
        }
    }

    /// The backend this URL selects.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Shows the URL with any password replaced, so it is safe to log.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_picks_the_backend_from_the_scheme() {
        let cases = [
            ("sqlite:///var/lib/pdx/pdx.db", Backend::Sqlite),
            ("sqlite:pdx.db", Backend::Sqlite),
            ("./pdx-data/pdx.db", Backend::Sqlite),
            ("postgres://u@h/db", Backend::Postgres),
            ("postgresql://u@h/db", Backend::Postgres),
        ];
        for (url, backend) in cases {
            assert_eq!(
                DatabaseUrl::parse(url).map(|u| u.backend()).ok(),
                Some(backend),
                "{url}"
            );
        }
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/pdx/pdx.db").ok(),
            Some(DatabaseUrl::sqlite("/var/lib/pdx/pdx.db"))
        );
    }

    #[test]
    fn parse_unknown_scheme_or_memory_is_rejected() {
        for url in ["mysql://root@h/db", "", "sqlite::memory:", ":memory:"] {
            assert!(
                matches!(DatabaseUrl::parse(url), Err(StorageError::InvalidUrl(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn display_never_shows_a_password() {
        let url = DatabaseUrl::parse("postgres://pdx:s3cret@db.internal:5432/pdx?sslmode=require");
        let shown = url.map(|u| u.to_string()).unwrap_or_default();
        assert_eq!(
            shown,
            "postgres://pdx:***@db.internal:5432/pdx?sslmode=require"
        );
        let no_password = DatabaseUrl::parse("postgres://pdx@h/db").map(|u| u.to_string());
        assert_eq!(no_password.ok().as_deref(), Some("postgres://pdx@h/db"));
    }
}

//! Server configuration: built-in defaults, then an optional TOML file, then `PDX_*`
//! environment variables (nested keys with `__`, e.g. `PDX_SECTION__KEY`), later ones winning.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use pdx_storage::{DatabaseUrl, PoolOptions};
use serde::{Deserialize, Serialize};

use crate::error::ServerError;

/// Everything an operator can configure. Every key is documented in `deploy/pdx.example.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for the embedded database, keys and uploaded files. Default `./pdx-data`.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`. Default: the SQLite file `pdx.sqlite3` in `data_dir`.
    pub database_url: Option<String>,
    /// Most database connections open at once. Default 16.
    pub database_pool_size: u32,
    /// Address and port to listen on; port 0 picks a free port. Default `127.0.0.1:8080`.
    pub bind: String,
    /// The URL users reach PDX at, used in links and metadata. Default `http://<bind>`.
    pub public_url: Option<String>,
    /// HTTP worker threads. Default: one per CPU core.
    pub workers: Option<usize>,
    /// Log line format: `pretty` for people, `json` for log collectors. Default `pretty`.
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `pdx_api=debug,info`; `RUST_LOG` overrides it. Default `info`.
    pub log_level: String,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT. Default 30.
    pub shutdown_timeout_secs: u64,
    /// Sign-in, tokens and keys (`[auth]`, environment `PDX_AUTH__<KEY>`).
    pub auth: AuthConfig,
    /// The catalog and its file storage (`[catalog]`, environment `PDX_CATALOG__<KEY>`).
    pub catalog: CatalogConfig,
    /// The circulation ledger (`[ledger]`, environment `PDX_LEDGER__<KEY>`).
    pub ledger: LedgerConfig,
    /// Usage accounting and audit reports (`[accounting]`, environment
    /// `PDX_ACCOUNTING__<KEY>`).
    pub accounting: AccountingConfig,
    /// How PDX faces the network (`[http]`, environment `PDX_HTTP__<KEY>`).
    pub http: HttpConfig,
    /// E-mail to account holders (`[mail]`, environment `PDX_MAIL__<KEY>`).
    pub mail: MailConfig,
    /// The web portal (`[portal]`, environment `PDX_PORTAL__<KEY>`).
    pub portal: PortalConfig,
    /// The gateway of API distributions (`[gateway]`, environment `PDX_GATEWAY__<KEY>`).
    pub gateway: GatewayConfig,
    /// Row queries of tabular distributions (`[rows]`, environment `PDX_ROWS__<KEY>`).
    pub rows: RowsConfig,
    /// The master key that seals the server keys kept in the database (`[keys]`, environment
    /// `PDX_KEYS__<KEY>`).
    pub keys: KeysConfig,
}

/// The master key. The server keys (JWT, ledger, keyed hashes, sealed credentials) live in the
/// database sealed under it, so every server process given the same master key shares them.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// A file holding the master key in base64 (`openssl rand -base64 32`), readable by the
    /// server's user only. Default: `keys/master.key` in the data directory, generated when
    /// the database holds no keys yet.
    pub master_key_file: Option<PathBuf>,
    /// The master key itself in base64, for an environment variable filled from a secret store
    /// (`PDX_KEYS__MASTER_KEY`). Not together with `master_key_file`.
    pub master_key: Option<String>,
    /// Files of earlier master keys, which still open keys sealed under them while the master
    /// key is being changed (until `pdx keys reseal`). Default: none.
    pub previous_master_key_files: Vec<PathBuf>,
}

impl std::fmt::Debug for KeysConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeysConfig")
            .field("master_key_file", &self.master_key_file)
            .field("master_key", &self.master_key.as_ref().map(|_| "<hidden>"))
            .field("previous_master_key_files", &self.previous_master_key_files)
            .finish()
    }
}

/// What row queries may take of the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RowsConfig {
    /// The longest a row query may run, in milliseconds, before it is stopped with
    /// `query_too_slow`. Default 30000.
    pub query_timeout_ms: u64,
    /// Row queries running at once (on PostgreSQL each holds a connection of its own, beside
    /// the pool). Default: four per CPU core.
    pub concurrent_queries: Option<usize>,
    /// Seconds a connection kept for row queries stays open unused before it is closed,
    /// giving back a table file's mapping (SQLite) or a database backend (PostgreSQL).
    /// Default 30.
    pub idle_connection_secs: u64,
}

impl Default for RowsConfig {
    fn default() -> Self {
        Self {
            query_timeout_ms: 30_000,
            concurrent_queries: None,
            idle_connection_secs: 30,
        }
    }
}

/// How the gateway reaches the upstreams of API distributions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Whether an upstream may be in a private network (loopback, RFC 1918, link-local, by
    /// address or by what its name resolves to). Off by default, so that a publisher cannot
    /// make PDX call into the network it runs in; turn it on where agencies' APIs are internal.
    pub allow_private_networks: bool,
    /// Seconds an upstream's open circuit holds calls off (on every server) before one call
    /// probes it.
    pub circuit_cool_down_secs: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            circuit_cool_down_secs: pdx_gateway::breaker::COOL_DOWN.as_secs(),
        }
    }
}

/// How the web portal presents itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    /// The portal's name in Chinese, shown in every page's header and title. Default
    /// `公共数据开放平台`.
    pub name_zh: String,
    /// The portal's name in English. Default `Public Data Exchange`.
    pub name_en: String,
}

impl Default for PortalConfig {
    fn default() -> Self {
        let names = pdx_web::PortalSettings::default();
        Self {
            name_zh: names.name_zh,
            name_en: names.name_en,
        }
    }
}

/// How e-mail (confirmation, invitation and password-reset links) goes out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// The `From` of every message. Default `PDX <no-reply@pdx.local>`.
    pub from: String,
    /// An SMTP relay: `smtps://USER:PASSWORD@HOST:465` (TLS) or
    /// `smtp://USER:PASSWORD@HOST:587?tls=required` (STARTTLS). Default: none, so messages are
    /// written to `outbox_dir`.
    pub smtp_url: Option<String>,
    /// Where messages go when no SMTP relay is set, one `.eml` file each (mode 0600).
    /// Default: `outbox` in the data directory.
    pub outbox_dir: Option<PathBuf>,
    /// Messages to one address per hour; further ones are not sent (0: unlimited). Default 5.
    pub per_recipient_per_hour: u32,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            from: "PDX <no-reply@pdx.local>".to_owned(),
            smtp_url: None,
            outbox_dir: None,
            per_recipient_per_hour: 5,
        }
    }
}

/// Network-facing settings: proxies, browser origins, limits and the metrics token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` names the client.
    /// Default: none, so the peer address is the client's.
    pub trusted_proxies: Vec<String>,
    /// Browser origins (e.g. `https://app.example.com`) allowed to call the API cross-origin;
    /// `*` for any (never with cookies). Default: none.
    pub cors_allowed_origins: Vec<String>,
    /// When set, `/metrics` answers only to `Authorization: Bearer <token>`. Default: none.
    pub metrics_token: Option<String>,
    /// Anonymous data requests per client address and minute (0: unlimited). Default 600.
    pub anonymous_data_per_minute: u32,
    /// Refused data requests per client address and minute before its further data requests
    /// are turned away for the rest of the minute (0: unlimited). Default 120.
    pub failed_data_per_minute: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            cors_allowed_origins: Vec::new(),
            metrics_token: None,
            anonymous_data_per_minute: 600,
            failed_data_per_minute: 120,
        }
    }
}

/// Circulation ledger settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// The log's origin: the first line of every checkpoint and the verifier key's name.
    /// Default: the public URL's host and port followed by `/ledger`.
    pub origin: Option<String>,
    /// An Ed25519 key (PKCS#8 PEM) that signs checkpoints, kept by the operator (every server
    /// process must be given the same). Default: a key PDX generates and keeps in the
    /// database, sealed under the master key.
    pub signing_key_file: Option<PathBuf>,
    /// How often a checkpoint is signed when there are new entries, in milliseconds.
    pub checkpoint_interval_ms: u64,
    /// Most data requests decided and written in one ledger transaction.
    pub max_batch: usize,
    /// Most data requests waiting for the ledger; beyond it requests get 503.
    pub queue: usize,
}

/// Usage accounting: the time zone its days and months are in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountingConfig {
    /// The IANA time zone of accounting days and months. Default `Asia/Shanghai`. Changing it
    /// takes `pdx accounting rebuild` with every server stopped.
    pub time_zone: String,
    /// The anomaly report's thresholds (`[accounting.anomalies]`).
    pub anomalies: pdx_circulation::anomalies::Thresholds,
}

impl Default for AccountingConfig {
    fn default() -> Self {
        Self {
            time_zone: pdx_circulation::accounting::DEFAULT_TIME_ZONE.to_owned(),
            anomalies: pdx_circulation::anomalies::Thresholds::default(),
        }
    }
}

impl AccountingConfig {
    /// The configured time zone's calendar.
    pub fn calendar(&self) -> Result<pdx_circulation::accounting::Calendar, ServerError> {
        pdx_circulation::accounting::Calendar::new(&self.time_zone)
            .map_err(|e| ServerError::Config(format!("accounting.time_zone: {e}")))
    }
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            origin: None,
            signing_key_file: None,
            checkpoint_interval_ms: 1_000,
            max_batch: 512,
            queue: 8_192,
        }
    }
}

/// Catalog settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// Where uploaded files go: a directory, `file:///dir`, or `s3://bucket/prefix`. Several
    /// server processes share one bucket. Default: `blobs` in the data directory.
    pub blob_store: Option<String>,
    /// S3 settings beside the standard `AWS_*` environment variables (which also apply), as
    /// object_store names them: `endpoint`, `region`, `access_key_id`, `secret_access_key`,
    /// `allow_http`, `virtual_hosted_style_request`, … (`[catalog.s3]`). Default: none.
    pub s3: std::collections::BTreeMap<String, Setting>,
    /// Largest file accepted in one upload, in bytes. Default 1073741824 (1 GiB).
    pub max_upload_bytes: u64,
    /// The search index's directory, which this server process alone writes (another process
    /// finding it in use keeps its index in memory). Default: `search` in the data directory.
    pub search_index: Option<PathBuf>,
}

/// A setting passed on as text, whatever type its source gave it (`PDX_CATALOG__S3__ALLOW_HTTP=true`
/// arrives as a boolean).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Setting {
    /// Text.
    Text(String),
    /// A flag.
    Flag(bool),
    /// A whole number.
    Number(i64),
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(text) => f.write_str(text),
            Self::Flag(flag) => write!(f, "{flag}"),
            Self::Number(number) => write!(f, "{number}"),
        }
    }
}

impl CatalogConfig {
    /// The S3 settings as text.
    pub fn s3_options(&self) -> std::collections::BTreeMap<String, String> {
        self.s3
            .iter()
            .map(|(key, value)| (key.clone(), value.to_string()))
            .collect()
    }

    /// The blob store: `blob_store`, or the `blobs` directory in `data_dir`.
    pub fn open_blob_store(
        &self,
        data_dir: &Path,
    ) -> Result<pdx_storage::BlobStore, pdx_storage::BlobError> {
        match &self.blob_store {
            Some(url) => pdx_storage::BlobStore::open_with(url, &self.s3_options()),
            None if self.s3.is_empty() => pdx_storage::BlobStore::local(&data_dir.join("blobs")),
            None => Err(pdx_storage::BlobError::Store(
                "S3 settings are given (catalog.s3) but blob_store is no s3:// URL".to_owned(),
            )),
        }
    }
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            blob_store: None,
            s3: std::collections::BTreeMap::new(),
            max_upload_bytes: 1 << 30,
            search_index: None,
        }
    }
}

/// Access-control settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The `iss` of access tokens. Default: the public URL.
    pub issuer: Option<String>,
    /// The `aud` of access tokens. Default `pdx`.
    pub audience: String,
    /// Access-token lifetime in seconds. Default 900 (15 minutes).
    pub access_token_ttl_secs: u64,
    /// Refresh-token lifetime in seconds. Default 2592000 (30 days).
    pub refresh_token_ttl_secs: u64,
    /// Shortest password accepted. Default 12.
    pub password_min_length: usize,
    /// argon2id memory in KiB. Default 19456 (OWASP).
    pub argon2_memory_kib: u32,
    /// argon2id iterations. Default 2 (OWASP).
    pub argon2_iterations: u32,
    /// argon2id lanes. Default 1 (OWASP).
    pub argon2_parallelism: u32,
    /// Failed sign-ins of one account from one client address before each further attempt
    /// from there must wait (1 s, then doubling up to `login_window_secs`); other addresses
    /// are not affected. Default 5.
    pub login_failures_per_account: u32,
    /// Failed sign-ins per client address per window before refusing. Default 50.
    pub login_failures_per_address: u32,
    /// The throttling window (and the longest wait) in seconds. Default 900.
    pub login_window_secs: u64,
    /// Registrations, confirmation resends and password-reset requests per client address
    /// per hour (0: unlimited). Default 20.
    pub account_requests_per_address_per_hour: u32,
    /// How long a registration's confirmation link works, in seconds. Default 86400 (a day).
    pub confirmation_ttl_secs: u64,
    /// How long an invitation works, in seconds. Default 604800 (a week).
    pub invitation_ttl_secs: u64,
    /// How long a password-reset link works, in seconds. Default 3600 (an hour).
    pub password_reset_ttl_secs: u64,
    /// A PKCS#8 PEM Ed25519 key to sign tokens with, instead of the generated keys kept in the
    /// database (rotation is then the operator's). Default: none.
    pub signing_key_file: Option<PathBuf>,
    /// The e-mail address of the platform admin created on first start. Default `admin@pdx.local`.
    pub bootstrap_admin_email: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: "pdx".to_owned(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            password_min_length: 12,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            login_failures_per_account: 5,
            login_failures_per_address: 50,
            login_window_secs: 900,
            account_requests_per_address_per_hour: 20,
            confirmation_ttl_secs: 24 * 3600,
            invitation_ttl_secs: 7 * 24 * 3600,
            password_reset_ttl_secs: 3600,
            signing_key_file: None,
            bootstrap_admin_email: "admin@pdx.local".to_owned(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, coloured when the output is a terminal.
    Pretty,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./pdx-data"),
            database_url: None,
            database_pool_size: 16,
            bind: "127.0.0.1:8080".to_owned(),
            public_url: None,
            workers: None,
            log_format: LogFormat::Pretty,
            log_level: "info".to_owned(),
            shutdown_timeout_secs: 30,
            auth: AuthConfig::default(),
            catalog: CatalogConfig::default(),
            ledger: LedgerConfig::default(),
            http: HttpConfig::default(),
            mail: MailConfig::default(),
            accounting: AccountingConfig::default(),
            portal: PortalConfig::default(),
            gateway: GatewayConfig::default(),
            rows: RowsConfig::default(),
            keys: KeysConfig::default(),
        }
    }
}

/// Environment variables with the `PDX_` prefix that are not configuration keys.
const NON_CONFIG_ENV: &[&str] = &["config", "test_database_url"];

impl Config {
    /// Loads defaults, then `file` (if given; it must exist), then the `PDX_*` environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ServerError> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ServerError::Config(format!(
                    "configuration file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed("PDX_").split("__").filter(|key| {
            !NON_CONFIG_ENV
                .iter()
                .any(|n| key.as_str().eq_ignore_ascii_case(n))
        }));
        let config = figment
            .extract::<Self>()
            .map_err(|error| ServerError::Config(error.to_string()))?;
        config.accounting.calendar()?;
        Ok(config)
    }

    /// The database to use: `database_url`, or the SQLite file in the data directory.
    pub fn database_url(&self) -> Result<DatabaseUrl, ServerError> {
        match &self.database_url {
            Some(url) => Ok(DatabaseUrl::parse(url)?),
            None => Ok(DatabaseUrl::sqlite(self.data_dir.join("pdx.sqlite3"))),
        }
    }

    /// The pool settings derived from this configuration.
    pub fn pool_options(&self) -> PoolOptions {
        PoolOptions {
            max_size: self.database_pool_size,
            ..PoolOptions::default()
        }
    }

    /// The listen address.
    pub fn bind_addr(&self) -> Result<SocketAddr, ServerError> {
        self.bind.parse().map_err(|error| {
            ServerError::Config(format!(
                "bind = {:?} is not an address:port: {error}",
                self.bind
            ))
        })
    }

    /// Where the row tables of a SQLite installation live: beside the database file, so that
    /// every process on that file finds them (an installation that kept them in the data
    /// directory before keeps them there).
    pub fn tables_dir(&self) -> Result<PathBuf, ServerError> {
        let legacy = self.data_dir.join("tables");
        match self.database_url()? {
            DatabaseUrl::Sqlite(path) if !legacy.is_dir() => Ok(path
                .parent()
                .filter(|dir| !dir.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("tables"), |dir| dir.join("tables"))),
            _ => Ok(legacy),
        }
    }

    /// Where e-mail goes without an SMTP relay.
    pub fn outbox_dir(&self) -> PathBuf {
        self.mail
            .outbox_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    /// The public base URL without a trailing slash, given the port actually bound.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::result_large_err,
    reason = "figment::Jail fixes the closure's error type"
)]
mod tests {
    use super::*;

    #[test]
    fn example_config_documents_every_key_with_its_default() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/pdx.example.toml");
        let text = std::fs::read_to_string(&example).unwrap_or_default();
        let uncommented: String = text
            .lines()
            .map(|line| {
                line.strip_prefix("# ")
                    .filter(|l| l.contains(" = "))
                    .unwrap_or(line)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let parsed: Result<Config, _> = Figment::from(Toml::string(&uncommented)).extract();
        let Ok(parsed) = parsed else {
            panic!("deploy/pdx.example.toml does not parse: {parsed:?}");
        };
        let defaults = Config::default();
        let expected = Config {
            database_url: parsed.database_url.clone(),
            public_url: parsed.public_url.clone(),
            workers: parsed.workers,
            auth: AuthConfig {
                issuer: parsed.auth.issuer.clone(),
                signing_key_file: parsed.auth.signing_key_file.clone(),
                ..defaults.auth.clone()
            },
            catalog: CatalogConfig {
                blob_store: parsed.catalog.blob_store.clone(),
                s3: parsed.catalog.s3.clone(),
                search_index: parsed.catalog.search_index.clone(),
                ..defaults.catalog.clone()
            },
            ledger: LedgerConfig {
                origin: parsed.ledger.origin.clone(),
                signing_key_file: parsed.ledger.signing_key_file.clone(),
                ..defaults.ledger.clone()
            },
            http: HttpConfig {
                metrics_token: parsed.http.metrics_token.clone(),
                ..defaults.http.clone()
            },
            mail: MailConfig {
                smtp_url: parsed.mail.smtp_url.clone(),
                outbox_dir: parsed.mail.outbox_dir.clone(),
                ..defaults.mail.clone()
            },
            rows: RowsConfig {
                concurrent_queries: parsed.rows.concurrent_queries,
                ..defaults.rows.clone()
            },
            keys: KeysConfig {
                master_key_file: parsed.keys.master_key_file.clone(),
                master_key: parsed.keys.master_key.clone(),
                ..defaults.keys.clone()
            },
            ..defaults
        };
        assert_eq!(
            parsed, expected,
            "the example's values must be the defaults"
        );
        let serialized = serde_json::to_value(Config::default()).unwrap_or_default();
        let mut keys = Vec::new();
        // Keys of sections and of sections within them (`[accounting.anomalies]`).
        fn collect(value: &serde_json::Value, keys: &mut Vec<String>) {
            for (key, value) in value.as_object().into_iter().flatten() {
                match value.as_object() {
                    Some(_) => collect(value, keys),
                    None => keys.push(key.clone()),
                }
            }
        }
        collect(&serialized, &mut keys);
        for key in keys {
            assert!(
                text.contains(&format!("{key} = ")),
                "deploy/pdx.example.toml lacks `{key}`"
            );
        }
    }

    #[test]
    fn load_layers_file_under_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "pdx.toml",
                "bind = \"0.0.0.0:9000\"\nlog_format = \"json\"\ndatabase_pool_size = 4\n",
            )?;
            jail.set_env("PDX_DATABASE_POOL_SIZE", "32");
            jail.set_env("PDX_AUTH__ACCESS_TOKEN_TTL_SECS", "60");
            jail.set_env("PDX_TEST_DATABASE_URL", "postgres://ignored");
            let config = Config::load(Some(Path::new("pdx.toml")))
                .map_err(|e| figment::Error::from(e.to_string()))?;
            assert_eq!(config.bind, "0.0.0.0:9000");
            assert_eq!(config.log_format, LogFormat::Json);
            assert_eq!(config.database_pool_size, 32);
            assert_eq!(config.auth.access_token_ttl_secs, 60);
            assert_eq!(config.data_dir, PathBuf::from("./pdx-data"));
            Ok(())
        });
    }

    #[test]
    fn load_rejects_unknown_keys_and_missing_files() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("pdx.toml", "bnd = \"0.0.0.0:9000\"\n")?;
            let typo = Config::load(Some(Path::new("pdx.toml")));
            assert!(
                matches!(&typo, Err(ServerError::Config(m)) if m.contains("bnd")),
                "{typo:?}"
            );
            let missing = Config::load(Some(Path::new("nope.toml")));
            assert!(matches!(missing, Err(ServerError::Config(_))));
            Ok(())
        });
    }

    #[test]
    fn database_url_defaults_to_sqlite_in_the_data_dir() {
        let config = Config {
            data_dir: PathBuf::from("/srv/pdx"),
            ..Config::default()
        };
        assert_eq!(
            config.database_url().ok(),
            Some(DatabaseUrl::sqlite("/srv/pdx/pdx.sqlite3"))
        );
    }
}

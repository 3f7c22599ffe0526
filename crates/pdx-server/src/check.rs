//! What an operator should fix: `pdx config check` validates a configuration without touching
//! anything, and `pdx doctor` looks at the running installation (files, disk, database, clock,
//! keys, blob store, ledger).

use std::path::Path;
use std::time::Duration;

use pdx_core::{Clock, SystemClock};
use pdx_storage::{Backend, BlobStore, Database};

use crate::config::Config;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// As it should be.
    Ok,
    /// Works, but an operator should look at it.
    Warn,
    /// Must be fixed: PDX will not start, or will not work as configured.
    Fail,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
        }
    }
}

/// One thing checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How bad it is.
    pub level: Level,
    /// What was checked: a configuration key or a part of the installation.
    pub subject: String,
    /// What was found, and what to do about it.
    pub message: String,
}

/// Everything checked, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The findings.
    pub findings: Vec<Finding>,
}

impl Report {
    fn add(&mut self, level: Level, subject: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding {
            level,
            subject: subject.into(),
            message: message.into(),
        });
    }

    fn ok(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        self.add(Level::Ok, subject, message);
    }

    fn warn(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        self.add(Level::Warn, subject, message);
    }

    fn fail(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        self.add(Level::Fail, subject, message);
    }

    /// The worst level found.
    pub fn worst(&self) -> Level {
        self.findings
            .iter()
            .map(|f| f.level)
            .max()
            .unwrap_or(Level::Ok)
    }

    /// The report as lines for a terminal.
    pub fn render(&self) -> String {
        let width = self
            .findings
            .iter()
            .map(|f| f.subject.len())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for finding in &self.findings {
            out.push_str(&format!(
                "{:<4}  {:<width$}  {}\n",
                finding.level.label(),
                finding.subject,
                finding.message
            ));
        }
        let count = |level| self.findings.iter().filter(|f| f.level == level).count();
        out.push_str(&format!(
            "{} checks: {} ok, {} to look at, {} to fix\n",
            self.findings.len(),
            count(Level::Ok),
            count(Level::Warn),
            count(Level::Fail)
        ));
        out
    }
}

/// Validates a loaded configuration without opening the database or writing anything.
pub fn config(config: &Config) -> Report {
    let mut report = Report::default();
    let bound = match config.bind_addr() {
        Ok(addr) => {
            report.ok("bind", format!("listens on {addr}"));
            Some(addr)
        }
        Err(error) => {
            report.fail("bind", error.to_string());
            None
        }
    };
    if config.workers == Some(0) {
        report.fail("workers", "must be at least 1 (or unset: one per CPU core)");
    }
    match config.database_url() {
        Ok(url) => {
            report.ok("database_url", format!("{} at {url}", url.backend().name()));
            if config.database_pool_size == 0 {
                report.fail("database_pool_size", "must be at least 1");
            }
        }
        Err(error) => report.fail("database_url", error.to_string()),
    }
    check_public_url(config, bound, &mut report);
    check_keys(config, &mut report);
    check_blob_store(config, &mut report);
    check_auth(config, &mut report);
    check_limits(config, &mut report);
    if let Some(addr) = bound {
        let public_url = config.public_url(addr);
        if let Err(error) = crate::app::edge_settings(config, &public_url) {
            report.fail("http.trusted_proxies", error.to_string());
        }
        let mail = pdx_access::mail::MailSettings {
            from: config.mail.from.clone(),
            smtp_url: config.mail.smtp_url.clone(),
            outbox_dir: config.outbox_dir(),
            public_url,
            per_recipient_per_hour: config.mail.per_recipient_per_hour,
        };
        // Only the settings are checked here; the key seals nothing.
        match pdx_access::mail::Mailer::new(&mail, [0; 32]) {
            Ok(_) if config.mail.smtp_url.as_deref().is_none_or(str::is_empty) => report.warn(
                "mail.smtp_url",
                format!(
                    "not set: e-mail (confirmations, invitations, password resets) is written to \
                     {} instead of being sent",
                    config.outbox_dir().display()
                ),
            ),
            Ok(_) => report.ok("mail", "the SMTP relay's address is well formed"),
            Err(error) => report.fail("mail", error.to_string()),
        }
    }
    for origin in &config.http.cors_allowed_origins {
        if origin != "*" && !(origin.starts_with("https://") || origin.starts_with("http://")) {
            report.fail(
                "http.cors_allowed_origins",
                format!("{origin:?} is not an origin such as https://app.example.gov"),
            );
        }
    }
    if config.http.metrics_token.as_deref() == Some("") {
        report.warn("http.metrics_token", "is empty: /metrics answers everyone");
    }
    report
}

fn check_public_url(config: &Config, bound: Option<std::net::SocketAddr>, report: &mut Report) {
    match &config.public_url {
        Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
            report.fail(
                "public_url",
                format!("{url:?} is not an http:// or https:// URL"),
            );
        }
        Some(url) if url.contains(char::is_whitespace) => {
            report.fail("public_url", format!("{url:?} contains whitespace"));
        }
        Some(url) if url.starts_with("http://") => report.warn(
            "public_url",
            format!(
                "{url} is plain HTTP: sign-in cookies are not marked Secure; serve PDX behind TLS \
                 and give its https:// URL"
            ),
        ),
        Some(url) => report.ok("public_url", url.clone()),
        None => match bound {
            Some(addr) if !addr.ip().is_loopback() => report.warn(
                "public_url",
                format!(
                    "not set: links and metadata will name http://{addr}; set the URL users reach \
                     PDX at"
                ),
            ),
            _ => report.ok(
                "public_url",
                "not set: the bound address is used (local use)",
            ),
        },
    }
}

fn check_keys(config: &Config, report: &mut Report) {
    match crate::keys::configured_master_key(config) {
        Ok(Some((key, source))) => report.ok(
            "keys.master_key",
            format!("master key {} ({})", key.id(), describe(&source)),
        ),
        Ok(None) => {
            let remote = config
                .database_url()
                .is_ok_and(|url| url.backend() == Backend::Postgres);
            if remote {
                report.fail(
                    "keys.master_key",
                    "not set: on PostgreSQL every server process must be given the same master \
                     key (keys.master_key_file or PDX_KEYS__MASTER_KEY; create one with \
                     `openssl rand -base64 32`)",
                );
            } else {
                report.ok(
                    "keys.master_key",
                    format!(
                        "not set: generated into {} on first start",
                        crate::keys::default_master_key_file(config).display()
                    ),
                );
            }
        }
        Err(error) => report.fail("keys.master_key", error.to_string()),
    }
    for file in &config.keys.previous_master_key_files {
        match pdx_storage::vault::MasterKey::read_file(file) {
            Ok(key) => report.warn(
                "keys.previous_master_key_files",
                format!(
                    "master key {} still opens old keys: run `pdx keys reseal`, then remove it",
                    key.id()
                ),
            ),
            Err(error) => report.fail("keys.previous_master_key_files", error.to_string()),
        }
    }
    if let Some(file) = &config.auth.signing_key_file {
        let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(SystemClock);
        match pdx_access::keys::KeyRing::open_file(file, Duration::from_secs(1), clock) {
            Ok(_) => report.ok("auth.signing_key_file", "an Ed25519 key"),
            Err(error) => report.fail("auth.signing_key_file", error.to_string()),
        }
    }
    if let Some(file) = &config.ledger.signing_key_file {
        if file.exists() {
            match pdx_circulation::ledger::load_or_create_key(file, "check") {
                Ok(_) => report.ok("ledger.signing_key_file", "an Ed25519 key"),
                Err(error) => report.fail("ledger.signing_key_file", error.to_string()),
            }
        } else {
            report.warn(
                "ledger.signing_key_file",
                format!(
                    "{} does not exist: a new key is generated there on first start, and every \
                     server process must be given that same file",
                    file.display()
                ),
            );
        }
    }
}

fn describe(source: &crate::keys::MasterKeySource) -> String {
    match source {
        crate::keys::MasterKeySource::Setting => "from keys.master_key".to_owned(),
        crate::keys::MasterKeySource::File(file)
        | crate::keys::MasterKeySource::Generated(file) => format!("from {}", file.display()),
    }
}

fn check_blob_store(config: &Config, report: &mut Report) {
    let opened = match &config.catalog.blob_store {
        Some(url) => BlobStore::open_with(url, &config.catalog.s3_options()).map(|_| url.clone()),
        None if config.catalog.s3.is_empty() => {
            Ok(config.data_dir.join("blobs").display().to_string())
        }
        None => Err(pdx_storage::BlobError::Store(
            "S3 settings are given (catalog.s3) but blob_store is no s3:// URL".to_owned(),
        )),
    };
    match opened {
        Ok(location) if location.starts_with("s3://") => report.ok("catalog.blob_store", location),
        Ok(location) => {
            let remote = config
                .database_url()
                .is_ok_and(|url| url.backend() == Backend::Postgres);
            let message = format!("a local directory, {location}");
            if remote {
                report.warn(
                    "catalog.blob_store",
                    format!(
                        "{message}: several server processes must share it; an s3:// bucket \
                         needs no shared disk"
                    ),
                );
            } else {
                report.ok("catalog.blob_store", message);
            }
        }
        Err(error) => report.fail("catalog.blob_store", error.to_string()),
    }
}

fn check_auth(config: &Config, report: &mut Report) {
    let auth = &config.auth;
    if auth.access_token_ttl_secs == 0 {
        report.fail("auth.access_token_ttl_secs", "must be at least 1");
    } else if auth.access_token_ttl_secs > 3600 {
        report.warn(
            "auth.access_token_ttl_secs",
            "over an hour: a stolen token stays useful that long",
        );
    }
    if auth.refresh_token_ttl_secs <= auth.access_token_ttl_secs {
        report.warn(
            "auth.refresh_token_ttl_secs",
            "not longer than an access token lives: refreshing gains nothing",
        );
    }
    if auth.password_min_length < 8 {
        report.warn(
            "auth.password_min_length",
            "below 8: NIST SP 800-63B asks for at least 8",
        );
    }
    if argon2::Params::new(
        auth.argon2_memory_kib,
        auth.argon2_iterations,
        auth.argon2_parallelism,
        None,
    )
    .is_err()
    {
        report.fail(
            "auth.argon2_*",
            "not valid argon2id parameters (memory at least 8 KiB per lane, at least one \
             iteration and lane)",
        );
    } else if auth.argon2_memory_kib < 19_456 || auth.argon2_iterations < 2 {
        report.warn(
            "auth.argon2_*",
            "below OWASP's recommendation (19456 KiB, 2 iterations)",
        );
    }
}

fn check_limits(config: &Config, report: &mut Report) {
    if config.ledger.checkpoint_interval_ms < 10 {
        report.fail(
            "ledger.checkpoint_interval_ms",
            "below 10 ms: checkpoints would be signed continuously",
        );
    }
    if config.ledger.max_batch == 0 || config.ledger.queue == 0 {
        report.fail("ledger.max_batch, ledger.queue", "must be at least 1");
    }
    if config.gateway.circuit_cool_down_secs == 0 {
        report.fail("gateway.circuit_cool_down_secs", "must be at least 1");
    }
    if config.rows.query_timeout_ms == 0 {
        report.fail("rows.query_timeout_ms", "must be at least 1");
    }
    if config.rows.concurrent_queries == Some(0) {
        report.fail(
            "rows.concurrent_queries",
            "must be at least 1 (or unset: four per CPU core)",
        );
    }
    if config.catalog.max_upload_bytes == 0 {
        report.fail("catalog.max_upload_bytes", "must be at least 1");
    }
}

/// Whether a file or directory can be read by others than its owner (group or world bits).
fn readable_by_others(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

/// Looks at the installation: the configuration, then its files, disk, database, clock, keys,
/// blob store and ledger.
pub async fn doctor(config: &Config) -> Report {
    let mut report = self::config(config);
    if report.worst() == Level::Fail {
        report.fail("doctor", "stopped after the configuration: fix it first");
        return report;
    }
    check_files(config, &mut report);
    let database = match config.database_url().and_then(|url| {
        Database::connect(&url, config.pool_options()).map_err(crate::ServerError::from)
    }) {
        Ok(database) => database,
        Err(error) => {
            report.fail("database", format!("cannot connect: {error}"));
            return report;
        }
    };
    check_database(&database, &mut report).await;
    check_mail_queue(&database, &mut report).await;
    check_servers(&database, &mut report).await;
    check_vault(config, &database, &mut report);
    check_blobs(config, &mut report).await;
    check_ledger(config, &database, &mut report).await;
    report
}

/// Which server processes run on the database now (they share out each upstream's calls at
/// once by their number).
async fn check_servers(database: &Database, report: &mut Report) {
    use pdx_core::Clock;
    let now = pdx_core::SystemClock.now();
    let running = database
        .run(move |conn| pdx_storage::presence::running(conn, now))
        .await;
    match running {
        Ok(running) if running.is_empty() => {
            report.ok("servers", "none is running on this database")
        }
        Ok(running) => {
            let names: Vec<String> = running
                .iter()
                .map(|p| {
                    format!(
                        "{} (since {})",
                        p.name,
                        p.started_at.format("%Y-%m-%d %H:%M UTC")
                    )
                })
                .collect();
            report.ok(
                "servers",
                format!(
                    "{} running on this database: {}",
                    running.len(),
                    names.join(", ")
                ),
            );
        }
        Err(error) => report.warn("servers", format!("cannot read them: {error}")),
    }
}

/// Whether e-mail is waiting because the relay refuses it or cannot be reached.
async fn check_mail_queue(database: &Database, report: &mut Report) {
    let status = database.run(pdx_access::mail::queue_status).await;
    match status {
        Ok(status) if status.failing == 0 => report.ok(
            "mail queue",
            format!("{} message(s) waiting, none has failed", status.waiting),
        ),
        Ok(status) => report.warn(
            "mail queue",
            format!(
                "{} of {} waiting message(s) could not be delivered yet (the oldest queued {}); \
                 the latest failure: {}. Check mail.smtp_url and the relay",
                status.failing,
                status.waiting,
                status.oldest.map_or_else(
                    || "—".to_owned(),
                    |at| at.format("%Y-%m-%d %H:%M UTC").to_string()
                ),
                status.last_error.as_deref().unwrap_or("unknown"),
            ),
        ),
        Err(error) => report.warn("mail queue", format!("cannot read it: {error}")),
    }
}

fn check_files(config: &Config, report: &mut Report) {
    let data = &config.data_dir;
    if !data.is_dir() {
        report.warn(
            "data_dir",
            format!(
                "{} does not exist yet: created on first start",
                data.display()
            ),
        );
        return;
    }
    let probe = data.join(format!(".doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"probe").and_then(|()| std::fs::remove_file(&probe)) {
        Ok(()) => report.ok("data_dir", format!("{} is writable", data.display())),
        Err(error) => report.fail(
            "data_dir",
            format!("{} is not writable by this user: {error}", data.display()),
        ),
    }
    let mut secrets = vec![
        data.join("keys"),
        crate::keys::default_master_key_file(config),
        data.join(crate::app::BOOTSTRAP_PASSWORD_FILE),
    ];
    secrets.extend(config.keys.master_key_file.clone());
    secrets.extend(config.keys.previous_master_key_files.iter().cloned());
    secrets.extend(config.auth.signing_key_file.clone());
    secrets.extend(config.ledger.signing_key_file.clone());
    let mut exposed = false;
    for path in secrets.iter().filter(|p| p.exists()) {
        if let Some(mode) = readable_by_others(path) {
            exposed = true;
            report.fail(
                "key files",
                format!(
                    "{} has mode {mode:o}: other users can read it; `chmod {} {}`",
                    path.display(),
                    if path.is_dir() { "700" } else { "600" },
                    path.display()
                ),
            );
        }
    }
    if !exposed {
        report.ok("key files", "readable by their owner only");
    }
    if data.join(crate::app::BOOTSTRAP_PASSWORD_FILE).exists() {
        report.warn(
            "initial-admin-password",
            "still in the data directory: sign in as the first admin, change the password and \
             delete the file",
        );
    }
    match free_space(data) {
        Some((free, total)) => {
            let (level, message) = disk_verdict(free, total);
            report.add(level, "disk", message);
        }
        None => report.warn("disk", "cannot read the free space of the data directory"),
    }
}

/// What the free space of the data directory's file system calls for: a failure under 1 GiB
/// or 2 % free, a warning under 10 %.
fn disk_verdict(free: u64, total: u64) -> (Level, String) {
    let gib = |bytes: u64| bytes as f64 / (1u64 << 30) as f64;
    let message = format!(
        "{:.1} GiB free of {:.1} GiB on the data directory's file system",
        gib(free),
        gib(total)
    );
    if free < (1 << 30) || free.saturating_mul(50) < total {
        (
            Level::Fail,
            format!("{message}: less than 1 GiB or 2 % left"),
        )
    } else if free.saturating_mul(10) < total {
        (Level::Warn, format!("{message}: less than 10 % left"))
    } else {
        (Level::Ok, message)
    }
}

/// What a difference between this host's clock and PostgreSQL's calls for: a failure over
/// 30 s (tokens, leases and ledger times go wrong), a warning over 1 s.
fn clock_verdict(skew_ms: i64) -> (Level, String) {
    let message = format!("this host's clock and the database's differ by {skew_ms} ms");
    if skew_ms > 30_000 {
        (
            Level::Fail,
            format!("{message}: tokens, leases and ledger times need synchronised clocks (NTP)"),
        )
    } else if skew_ms > 1_000 {
        (Level::Warn, format!("{message}: synchronise both with NTP"))
    } else {
        (Level::Ok, message)
    }
}

/// Free and total bytes of the file system holding `path`.
fn free_space(path: &Path) -> Option<(u64, u64)> {
    let stat = rustix::fs::statvfs(path).ok()?;
    Some((
        stat.f_bavail.saturating_mul(stat.f_frsize),
        stat.f_blocks.saturating_mul(stat.f_frsize),
    ))
}

async fn check_database(database: &Database, report: &mut Report) {
    let pending = {
        let database = database.clone();
        tokio::task::spawn_blocking(move || database.pending_migrations()).await
    };
    match pending {
        Ok(Ok(pending)) if pending.is_empty() => {
            report.ok("migrations", "the database schema is up to date");
        }
        Ok(Ok(pending)) => report.warn(
            "migrations",
            format!(
                "{} pending ({}): `pdx migrate` (or the next `pdx serve`) applies them",
                pending.len(),
                pending.join(", ")
            ),
        ),
        Ok(Err(error)) => {
            report.fail("database", format!("cannot read its migrations: {error}"));
            return;
        }
        Err(error) => {
            report.fail("database", error.to_string());
            return;
        }
    }
    let before = SystemClock.now();
    let theirs = database.clone().now().await;
    let after = SystemClock.now();
    match theirs {
        Ok(theirs) => {
            let ours = before + (after - before) / 2;
            if database.backend() == Backend::Sqlite {
                report.ok("clock", "SQLite reads this host's clock");
            } else {
                let (level, message) = clock_verdict((theirs - ours).num_milliseconds().abs());
                report.add(level, "clock", message);
            }
        }
        Err(error) => report.warn(
            "clock",
            format!("cannot read the database's clock: {error}"),
        ),
    }
}

fn check_vault(config: &Config, database: &Database, report: &mut Report) {
    match crate::keys::configured_master_key(config) {
        Ok(Some((master, _))) => {
            let previous = config
                .keys
                .previous_master_key_files
                .iter()
                .filter_map(|file| pdx_storage::vault::MasterKey::read_file(file).ok())
                .collect();
            let vault = pdx_storage::vault::Vault::new(database.clone(), master, previous);
            match vault.check() {
                Ok(check) if check.under_previous > 0 => report.warn(
                    "server keys",
                    format!(
                        "{} of {} keys are sealed under a previous master key: `pdx keys reseal`",
                        check.under_previous, check.keys
                    ),
                ),
                Ok(check) => report.ok(
                    "server keys",
                    format!(
                        "all {} open under master key {}",
                        check.keys,
                        vault.master_key_id()
                    ),
                ),
                Err(error) => report.fail("server keys", error.to_string()),
            }
        }
        Ok(None) => match pdx_storage::vault::Vault::sealing_master_keys(database) {
            Ok(sealing) if sealing.is_empty() => {
                report.ok("server keys", "none yet: generated on first start");
            }
            Ok(sealing) => report.fail(
                "server keys",
                format!(
                    "sealed under master key {}, and this process has none: give it that key",
                    sealing
                        .iter()
                        .map(|(id, _)| id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Err(error) => report.fail("server keys", error.to_string()),
        },
        Err(error) => report.fail("server keys", error.to_string()),
    }
}

async fn check_blobs(config: &Config, report: &mut Report) {
    let store = config.catalog.open_blob_store(&config.data_dir);
    let store = match store {
        Ok(store) => store,
        Err(error) => {
            report.fail("blob store", error.to_string());
            return;
        }
    };
    let key = format!("doctor/probe-{}", uuid::Uuid::new_v4().simple());
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
        b"pdx doctor probe",
    ))]);
    let probed = async {
        store.put_stream(&key, body, 1024).await?;
        let read = store.read(&key).await?;
        store.delete(&key).await?;
        Ok::<_, pdx_storage::BlobError>(read)
    }
    .await;
    match probed {
        Ok(read) if read.as_ref() == b"pdx doctor probe" => report.ok(
            "blob store",
            format!(
                "{}: a probe was written, read back and deleted",
                store.location()
            ),
        ),
        Ok(_) => report.fail("blob store", "a probe read back different bytes"),
        Err(error) => report.fail("blob store", format!("{}: {error}", store.location())),
    }
}

async fn check_ledger(config: &Config, database: &Database, report: &mut Report) {
    let interval = Duration::from_millis(config.ledger.checkpoint_interval_ms.max(10));
    let ttl = crate::app::signer_lease_ttl(interval);
    let state = database
        .run(|conn| {
            let holding = pdx_storage::lease::holding(conn, crate::app::SIGNER_LEASE)?;
            let facts = pdx_circulation::ledger::head_facts(conn)?;
            Ok::<_, pdx_storage::StorageError>((holding, facts))
        })
        .await;
    let (holding, facts) = match state {
        Ok(state) => state,
        Err(error) => {
            report.fail("ledger", error.to_string());
            return;
        }
    };
    let now = SystemClock.now();
    match holding {
        Some(holding) if holding.expires_at > now => report.ok(
            "checkpoint signer",
            format!(
                "{} signs checkpoints (lease until {})",
                holding.holder,
                holding.expires_at.format("%H:%M:%S UTC")
            ),
        ),
        Some(holding) => report.warn(
            "checkpoint signer",
            format!(
                "no server holds the lease ({} let it lapse at {}); a running server takes it \
                 within {} s",
                holding.holder,
                holding.expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
                ttl.as_secs()
            ),
        ),
        None => report.ok("checkpoint signer", "no server has signed yet"),
    }
    let unsigned = facts.size.saturating_sub(facts.checkpoint_size);
    let message = format!(
        "{} entries; the latest checkpoint covers {}",
        facts.size, facts.checkpoint_size
    );
    let stale = facts
        .checkpoint_at
        .is_some_and(|at| now - at > chrono::Duration::from_std(ttl * 3).unwrap_or_default());
    if unsigned > 0 && (stale || facts.checkpoint_at.is_none()) {
        report.warn(
            "ledger",
            format!(
                "{message}: newer entries have waited long for a checkpoint; is a server running?"
            ),
        );
    } else {
        report.ok("ledger", message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn a_disk_fails_under_1_gib_or_2_percent_and_warns_under_10_percent() {
        for (free, total, level) in [
            (500 * GIB, 1000 * GIB, Level::Ok),
            (100 * GIB, 1000 * GIB, Level::Ok),
            (99 * GIB, 1000 * GIB, Level::Warn),
            (21 * GIB, 1000 * GIB, Level::Warn),
            (19 * GIB, 1000 * GIB, Level::Fail),
            (GIB / 2, 4 * GIB, Level::Fail),
            (3 * GIB, 4 * GIB, Level::Ok),
        ] {
            let (found, message) = disk_verdict(free, total);
            assert_eq!(found, level, "{free} of {total}: {message}");
            assert!(message.contains("GiB free of"), "{message}");
        }
    }

    #[test]
    fn a_clock_warns_over_a_second_apart_and_fails_over_thirty() {
        for (skew, level) in [
            (0, Level::Ok),
            (1_000, Level::Ok),
            (1_001, Level::Warn),
            (30_000, Level::Warn),
            (30_001, Level::Fail),
        ] {
            let (found, message) = clock_verdict(skew);
            assert_eq!(found, level, "{skew} ms: {message}");
            assert!(
                message.contains(&format!("differ by {skew} ms")),
                "{message}"
            );
        }
    }
}

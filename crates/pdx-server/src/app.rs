//! The server as a library: `Application::build` prepares everything (data directory,
//! database, migrations, listener) and `run_until_stopped` serves until SIGTERM or SIGINT.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use pdx_access::keys::KeyRing;
use pdx_access::mail::MailSettings;
use pdx_access::model::PasswordPolicy;
use pdx_access::password::Argon2Params;
use pdx_access::secrets::SecretHasher;
use pdx_access::service::AccountSettings;
use pdx_access::throttle::ThrottlePolicy;
use pdx_access::tokens::TokenSettings;
use pdx_access::{AccessService, AccessSettings};
use pdx_api::ApiState;
use pdx_catalog::CatalogService;
use pdx_catalog::search::{Opened, SearchIndex};
use pdx_circulation::LedgerService;
use pdx_core::{Clock, SystemClock};
use pdx_storage::vault::Vault;
use pdx_storage::{Database, instance};

use crate::config::Config;
use crate::error::ServerError;

/// A PDX server, built and bound, not yet serving.
pub struct Application {
    port: u16,
    public_url: String,
    server: Server,
    state: web::Data<ApiState>,
    /// How often the ledger's growth is signed, once serving.
    checkpoint_interval: Duration,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Creates the data directory, opens and migrates the database, and binds the listener.
    pub async fn build(config: Config) -> Result<Self, ServerError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] with the clock every decision, token and ledger entry reads the
    /// time from (tests set it to cross a month's end).
    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ServerError> {
        std::fs::create_dir_all(&config.data_dir).map_err(ServerError::io(format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )))?;
        let url = config.database_url()?;
        let options = config.pool_options();
        let database = tokio::task::spawn_blocking(move || prepare_database(&url, options))
            .await
            .map_err(|error| ServerError::Config(format!("database setup aborted: {error}")))??;

        let listener = TcpListener::bind(config.bind_addr()?)
            .map_err(ServerError::io(format!("cannot listen on {}", config.bind)))?;
        let local = listener
            .local_addr()
            .map_err(ServerError::io("cannot read the bound address"))?;
        let public_url = config.public_url(local);

        let catalog = open_catalog(&config, database.clone(), clock.clone())?;
        // The services that read their keys from the vault, opened off the async executor:
        // the database may be slow to answer, and the executor may be serving other work.
        let (access, ledger, rows, gateway) = {
            let (config, database, public_url, catalog, clock) = (
                config.clone(),
                database.clone(),
                public_url.clone(),
                catalog.clone(),
                clock.clone(),
            );
            tokio::task::spawn_blocking(move || {
                let (vault, _) = crate::keys::open_vault(&config, &database)?;
                let access = open_access(
                    &config,
                    database.clone(),
                    &vault,
                    &public_url,
                    clock.clone(),
                )
                .map_err(|e| ServerError::Config(e.to_string()))?;
                let ledger = open_ledger(
                    &config,
                    database.clone(),
                    &vault,
                    &public_url,
                    clock.clone(),
                )?;
                let rows = open_rows(&config, database.clone(), &vault, &catalog, clock.clone())?;
                let gateway = open_gateway(&config, database, &vault, &catalog, clock)?;
                Ok::<_, ServerError>((access, ledger, rows, gateway))
            })
            .await
            .map_err(|error| ServerError::Config(format!("opening the keys aborted: {error}")))??
        };
        match access.mailer().outbox() {
            Some(outbox) => tracing::info!(
                outbox = %outbox.display(),
                "no SMTP relay configured ([mail] smtp_url): e-mail to account holders is written \
                 to the outbox directory, one .eml file per message"
            ),
            None => tracing::info!("e-mail to account holders goes through the SMTP relay"),
        }
        bootstrap(&access, &config.data_dir).await?;
        access.refresh_revocations().await?;
        let rebuilt = catalog.prepare_search().await?;
        tracing::info!(
            datasets = catalog.search_index().documents(),
            rebuilt,
            "search index ready"
        );
        prepare_accounting(&config, &ledger).await?;
        let licensing = pdx_licensing::LicensingService::with_appender(
            database.clone(),
            clock.clone(),
            pdx_circulation::AppenderOptions {
                max_batch: config.ledger.max_batch,
                queue: config.ledger.queue,
            },
        );
        let interrupted = rows.recover().await?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "ingestions interrupted by a stop were marked failed"
            );
        }
        let edge = edge_settings(&config, &public_url)?;
        let state = web::Data::new(ApiState {
            rows,
            gateway,
            database,
            access,
            catalog,
            licensing,
            ledger,
            metrics: pdx_api::metrics::handle(),
            edge: Arc::new(pdx_api::edge::Edge::new(edge.clone())),
        });
        let portal = web::Data::new(pdx_web::WebState::new(
            pdx_web::Services {
                admission: Arc::new(PortalAdmission(state.edge.clone())),
                access: state.access.clone(),
                catalog: state.catalog.clone(),
                licensing: state.licensing.clone(),
                ledger: state.ledger.clone(),
                rows: state.rows.clone(),
                gateway: state.gateway.clone(),
            },
            clock,
            pdx_web::PortalSettings {
                name_zh: config.portal.name_zh.clone(),
                name_en: config.portal.name_en.clone(),
            },
            edge.https,
        ));
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            pdx_api::mount(
                App::new()
                    .app_data(app_state.clone())
                    .app_data(portal.clone()),
            )
            .configure(pdx_web::routes)
            .default_service(web::to(not_found))
            // Without configured origins there is nothing to answer cross-origin.
            .wrap(actix_web::middleware::Condition::new(
                !edge.cors_origins.is_empty(),
                pdx_api::edge::cors(&edge),
            ))
            .wrap(from_fn(pdx_api::observe))
        })
        .shutdown_timeout(config.shutdown_timeout_secs)
        // A client that closes its side has gone: its request's work (a row query, an upstream
        // call) is dropped and stopped instead of running on for nobody.
        .h1_allow_half_closed(false)
        // An answer written in two parts (the gateway's head, then the upstream's body as it
        // arrives) must not wait for the client's delayed acknowledgement (Nagle's algorithm):
        // that held about one call in a hundred for 40 ms.
        .tcp_nodelay(true);
        if let Some(workers) = config.workers {
            server = server.workers(workers.max(1));
        }
        let server = server
            .listen(listener)
            .map_err(ServerError::io(format!("cannot serve on {local}")))?
            .run();
        tracing::info!(address = %local, %public_url, "PDX listening");
        Ok(Self {
            port: local.port(),
            public_url,
            server,
            state,
            checkpoint_interval: Duration::from_millis(
                config.ledger.checkpoint_interval_ms.max(10),
            ),
        })
    }

    /// Loads the demo catalog into this server's database (once) and returns its accounts.
    pub async fn load_demo(&self) -> Result<Vec<crate::demo::DemoAccount>, ServerError> {
        crate::demo::load(
            &self.state.access,
            &self.state.catalog,
            &self.state.rows,
            &self.state.database,
        )
        .await
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The public base URL, without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Serves until the process receives SIGTERM or SIGINT, then drains in-flight requests.
    /// The background work (expiry records, checkpoint signing) starts here, not in `build`, so
    /// that what a demo load writes in between is recorded at the demo's times, not at the
    /// wall clock's by a task that happened to tick during the load.
    pub async fn run_until_stopped(self) -> Result<(), ServerError> {
        spawn_expiry_recorder(self.state.licensing.clone());
        spawn_revocation_follower(self.state.access.clone());
        spawn_search_follower(self.state.catalog.clone());
        tokio::spawn(self.state.database.clone().watch_outages());
        let holder = pdx_storage::lease::holder_name();
        spawn_checkpoint_signer(
            self.state.ledger.clone(),
            self.state.database.clone(),
            holder.clone(),
            self.checkpoint_interval,
        );
        spawn_rollup_folder(self.state.ledger.clone());
        spawn_mail_delivery(self.state.access.clone());
        spawn_limit_exchange(
            self.state.edge.clone(),
            self.state.access.clone(),
            self.state.database.clone(),
        );
        spawn_idle_reader_closer(self.state.rows.clone());
        spawn_gateway_exchange(
            self.state.gateway.clone(),
            self.state.database.clone(),
            holder.clone(),
        );
        let served = self
            .server
            .await
            .map_err(ServerError::io("the HTTP server stopped with an error"));
        // Another process may sign checkpoints at once instead of after the lease lapses, and
        // the others take this one's part of the upstreams' calls at once.
        let released = self
            .state
            .database
            .run_as_writer(move |conn| {
                pdx_storage::presence::withdraw(conn, &holder)?;
                pdx_storage::lease::release(conn, SIGNER_LEASE, &holder)
            })
            .await;
        if let Err(error) = released {
            tracing::warn!(%error, "could not give up the checkpoint signer's lease");
        }
        served?;
        tracing::info!("PDX stopped");
        Ok(())
    }
}

/// No route took the request: the API's problem+json (404, or 405 with `Allow`) for its
/// paths, the portal's page for everything else.
async fn not_found(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    if pdx_api::owns_path(req.path()) {
        match pdx_api::not_found(req).await {
            Ok(response) => response,
            Err(error) => actix_web::ResponseError::error_response(&error),
        }
    } else {
        pdx_web::not_found(req).await
    }
}

/// The edge policy from the `[http]` section and the public URL.
pub fn edge_settings(
    config: &Config,
    public_url: &str,
) -> Result<pdx_api::edge::EdgeSettings, ServerError> {
    let http = &config.http;
    Ok(pdx_api::edge::EdgeSettings {
        https: public_url.starts_with("https://"),
        metrics_token: http.metrics_token.clone().filter(|t| !t.is_empty()),
        trusted_proxies: pdx_api::edge::EdgeSettings::parse_proxies(&http.trusted_proxies)
            .map_err(|e| ServerError::Config(format!("http.trusted_proxies: {e}")))?,
        cors_origins: http.cors_allowed_origins.clone(),
        anonymous_data_per_minute: http.anonymous_data_per_minute,
        failed_data_per_minute: http.failed_data_per_minute,
    })
}

/// Opens the pool, applies pending migrations and makes sure the installation has an identity.
pub fn prepare_database(
    url: &pdx_storage::DatabaseUrl,
    options: pdx_storage::PoolOptions,
) -> Result<Database, ServerError> {
    let database = Database::connect(url, options)?;
    let applied = database.migrate()?;
    for name in &applied {
        tracing::info!(migration = %name, "applied migration");
    }
    let mut conn = database.conn()?;
    let instance = instance::ensure(&mut conn, SystemClock.now())?;
    let moved = pdx_storage::database::transaction(&mut conn, |conn| {
        pdx_access::audit::move_into_ledger(conn, SystemClock.now())
    })?;
    if moved > 0 {
        tracing::info!(events = moved, "moved earlier audit events into the ledger");
    }
    tracing::info!(database = %url, instance = %instance.id, "database ready");
    Ok(database)
}

/// The file, in the data directory, that holds the first platform admin's one-time password.
pub const BOOTSTRAP_PASSWORD_FILE: &str = "initial-admin-password";

/// On an empty database, creates the first platform admin and writes its one-time password to
/// a file only the server's user can read; the log says where, never what.
pub async fn bootstrap(
    access: &AccessService,
    data_dir: &std::path::Path,
) -> Result<(), ServerError> {
    if let Some(admin) = access.bootstrap().await? {
        let path = data_dir.join(BOOTSTRAP_PASSWORD_FILE);
        // A file left from an earlier installation holds a password that no longer works.
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ServerError::io(format!(
                    "cannot replace {}",
                    path.display()
                ))(e));
            }
        }
        pdx_storage::private::write_file(&path, format!("{}\n", admin.password).as_bytes())
            .map_err(ServerError::io(format!("cannot write {}", path.display())))?;
        tracing::warn!(
            email = %admin.email,
            password_file = %path.display(),
            "created the first platform admin; its one-time password is in password_file \
             (readable by this user only): sign in, change it, then delete the file"
        );
    }
    Ok(())
}

/// How often grant expiries are looked for, to be recorded in the audit trail.
const EXPIRY_SCAN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Records grant expiries in the background; expiry itself needs no task (it is derived from
/// the clock at every decision).
fn spawn_expiry_recorder(licensing: pdx_licensing::LicensingService) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EXPIRY_SCAN_INTERVAL);
        loop {
            tick.tick().await;
            match licensing.record_expiries().await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "recorded grant expiries"),
                Err(error) => tracing::warn!(%error, "could not record grant expiries"),
            }
        }
    });
}

/// How often the revocations of other processes are looked for.
const REVOCATION_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Follows token revocations made by other server processes on the same database (this
/// process's own take effect at once).
fn spawn_revocation_follower(access: AccessService) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REVOCATION_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(error) = access.refresh_revocations().await {
                tracing::warn!(%error, "could not read token revocations");
            }
        }
    });
}

/// How often the catalog's change feed is read.
const SEARCH_FEED_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// How long the change feed keeps a change: far longer than any running process needs; an
/// index offline for longer is rebuilt when it starts.
const SEARCH_FEED_RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// How often old changes are pruned from the feed.
const SEARCH_FEED_PRUNE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Follows the catalog's change feed, so that writes made through other server processes
/// reach this process's search index (its own are applied as they are made), and prunes
/// changes older than the retention.
fn spawn_search_follower(catalog: CatalogService) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SEARCH_FEED_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned = std::time::Instant::now();
        loop {
            tick.tick().await;
            if let Err(error) = catalog.follow_changes().await {
                tracing::warn!(%error, "search index: could not follow the catalog's changes");
            }
            if pruned.elapsed() >= SEARCH_FEED_PRUNE {
                pruned = std::time::Instant::now();
                match catalog.prune_changes(SEARCH_FEED_RETENTION).await {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "catalog change feed pruned"),
                    Err(error) => tracing::warn!(%error, "could not prune the catalog change feed"),
                }
            }
        }
    });
}

/// The lease through which one server process at a time signs checkpoints.
pub const SIGNER_LEASE: &str = "checkpoint_signer";

/// How long the signer's lease lasts unless renewed: how soon another process takes over
/// when the signer dies.
pub fn signer_lease_ttl(interval: Duration) -> Duration {
    (interval * 5).max(Duration::from_secs(10))
}

/// Signs a checkpoint whenever the ledger has grown, at most once per interval, while this
/// process holds the signer's lease; the other processes wait to take it over.
fn spawn_checkpoint_signer(
    ledger: LedgerService,
    database: Database,
    holder: String,
    interval: Duration,
) {
    let ttl = signer_lease_ttl(interval);
    let renew_every = ttl / 3;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut holding = false;
        let mut asked: Option<std::time::Instant> = None;
        loop {
            tick.tick().await;
            if asked.is_none_or(|at| at.elapsed() >= renew_every) {
                asked = Some(std::time::Instant::now());
                let name = holder.clone();
                let lease_ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
                let held = database
                    .run_as_writer(move |conn| {
                        pdx_storage::lease::hold(
                            conn,
                            SIGNER_LEASE,
                            &name,
                            SystemClock.now(),
                            lease_ttl,
                        )
                    })
                    .await;
                let now_holding = match held {
                    Ok(held) => held,
                    Err(error) => {
                        tracing::warn!(%error, "could not renew the checkpoint signer's lease");
                        false
                    }
                };
                if now_holding != holding {
                    if now_holding {
                        tracing::info!(holder, "this process signs the ledger's checkpoints");
                    } else {
                        tracing::info!(holder, "another process signs the ledger's checkpoints");
                    }
                }
                holding = now_holding;
                metrics::gauge!("pdx_checkpoint_signer").set(if holding { 1.0 } else { 0.0 });
            }
            if !holding {
                continue;
            }
            match ledger.sign_checkpoint().await {
                Ok(Some(size)) => {
                    metrics::counter!("pdx_ledger_checkpoints_signed_total").increment(1);
                    metrics::gauge!("pdx_ledger_checkpoint_size").set(size as f64);
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "could not sign a ledger checkpoint"),
            }
        }
    });
}

/// Delivers queued e-mail: at once when this process queued some, and every moment for what
/// other processes queued, what waits for another attempt, or what a stopped process left.
fn spawn_mail_delivery(access: AccessService) {
    tokio::spawn(async move {
        loop {
            if let Err(error) = access.deliver_mail().await {
                tracing::warn!(%error, "could not deliver queued e-mail");
            }
            access
                .mailer()
                .woken_or(pdx_access::mail::DELIVERY_POLL)
                .await;
        }
    });
}

/// How often the per-address limits' counts are exchanged with the other server processes.
const LIMIT_EXCHANGE_INTERVAL: Duration = Duration::from_secs(1);

/// Exchanges the limits' counts (data requests per address, sign-in failures, account
/// requests, e-mail per recipient) with the other server processes through the database,
/// so that each limit holds for the platform, not for each process.
fn spawn_limit_exchange(edge: Arc<pdx_api::edge::Edge>, access: AccessService, database: Database) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(LIMIT_EXCHANGE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let edge = Arc::clone(&edge);
            let exchanged = database.run_as_writer(move |conn| edge.sync(conn)).await;
            let exchanged = match exchanged {
                Ok(()) => access.exchange_limits().await.map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            if let Err(error) = exchanged {
                tracing::warn!(%error, "could not exchange rate-limit counts with the other servers");
            }
        }
    });
}

/// Closes, every second, the connections kept for row queries that stayed unused for
/// `rows.idle_connection_secs`.
fn spawn_idle_reader_closer(rows: pdx_rows::RowService) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let rows = rows.clone();
            if let Err(error) = tokio::task::spawn_blocking(move || rows.close_idle_readers()).await
            {
                tracing::warn!(%error, "could not close the idle row-query connections");
            }
        }
    });
}

/// Announces this process to the others and exchanges the upstreams' circuits with them,
/// once per [`LIMIT_EXCHANGE_INTERVAL`]: each upstream's calls at once are shared out among
/// the processes running, and a circuit one opened is open for all.
fn spawn_gateway_exchange(
    gateway: pdx_gateway::GatewayService,
    database: Database,
    holder: String,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(LIMIT_EXCHANGE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let name = holder.clone();
            let now = gateway.now();
            let exchanged = match database
                .run_as_writer(move |conn| pdx_storage::presence::announce(conn, &name, now))
                .await
            {
                Ok(roster) => gateway
                    .exchange(&holder, roster)
                    .await
                    .map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            if let Err(error) = exchanged {
                tracing::warn!(%error, "could not exchange the gateway's circuits with the other servers");
            }
        }
    });
}

/// How often the usage deltas recorded by appends are folded into the day rows.
const ROLLUP_FOLD_INTERVAL: Duration = Duration::from_secs(1);

/// Folds the usage deltas into the day rows, once per interval, so that the deltas stay few.
fn spawn_rollup_folder(ledger: LedgerService) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ROLLUP_FOLD_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(error) = ledger.fold_accounting().await {
                tracing::warn!(%error, "could not fold the usage deltas into the day roll-ups");
            }
        }
    });
}

/// Builds the usage roll-ups if they never were, and says so when they are kept in another
/// time zone than the configured one.
async fn prepare_accounting(config: &Config, ledger: &LedgerService) -> Result<(), ServerError> {
    let configured = config.accounting.calendar()?;
    let (kept, built) = ledger
        .prepare_accounting(configured)
        .await
        .map_err(|e| ServerError::Config(format!("usage roll-ups: {e}")))?;
    if let Some(built) = built {
        tracing::info!(
            time_zone = kept.name(),
            entries = built.entries,
            requests = built.requests,
            "usage roll-ups built from the ledger"
        );
    }
    if kept != configured {
        tracing::warn!(
            kept = kept.name(),
            configured = configured.name(),
            "accounting.time_zone differs from the zone the usage roll-ups are kept in; they stay \
             in the kept zone until `pdx accounting rebuild` is run with every server stopped"
        );
    }
    Ok(())
}

/// The ledger's origin: configured, or the public URL's host and port with `/ledger`.
pub fn ledger_origin(config: &Config, public_url: &str) -> String {
    config.ledger.origin.clone().unwrap_or_else(|| {
        let host = public_url
            .split_once("://")
            .map_or(public_url, |(_, rest)| rest)
            .trim_end_matches('/');
        format!("{host}/ledger")
    })
}

/// Opens the ledger with its checkpoint key (created on first start).
pub fn open_ledger(
    config: &Config,
    database: Database,
    vault: &Vault,
    public_url: &str,
    clock: Arc<dyn Clock>,
) -> Result<LedgerService, ServerError> {
    let origin = ledger_origin(config, public_url);
    let key = match &config.ledger.signing_key_file {
        Some(path) => pdx_circulation::ledger::load_or_create_key(path, &origin),
        None => pdx_circulation::ledger::key_from_vault(
            vault,
            &config.data_dir.join("keys").join("ledger.pem"),
            &origin,
            clock.now(),
        ),
    }
    .map_err(|e| ServerError::Config(e.to_string()))?;
    Ok(LedgerService::new(database, key, clock)
        .with_anomaly_thresholds(config.accounting.anomalies))
}

/// The ledger as an operator command opens it: the vault of `database`, the configured
/// origin, the system clock.
pub fn open_ledger_as_operator(
    config: &Config,
    database: Database,
) -> Result<LedgerService, ServerError> {
    let (vault, _) = crate::keys::open_vault(config, &database)?;
    let public_url = config.public_url(config.bind_addr()?);
    open_ledger(config, database, &vault, &public_url, Arc::new(SystemClock))
}

/// Builds the catalog: its blob store and upload limit.
pub fn open_catalog(
    config: &Config,
    database: Database,
    clock: Arc<dyn Clock>,
) -> Result<CatalogService, ServerError> {
    let blobs = config
        .catalog
        .open_blob_store(&config.data_dir)
        .map_err(|e| ServerError::Config(format!("catalog.blob_store: {e}")))?;
    tracing::info!(location = blobs.location(), "blob store ready");
    let search = open_search_index(config)?;
    Ok(CatalogService::new(
        database,
        clock,
        blobs,
        config.catalog.max_upload_bytes,
        Arc::new(search),
    ))
}

/// Where the search index lives.
pub fn search_index_dir(config: &Config) -> std::path::PathBuf {
    config
        .catalog
        .search_index
        .clone()
        .unwrap_or_else(|| config.data_dir.join("search"))
}

/// Opens the search index (to be prepared before serving).
pub fn open_search_index(config: &Config) -> Result<SearchIndex, ServerError> {
    let dir = search_index_dir(config);
    let render = Arc::new(pdx_api::render::DatasetJson::new());
    let (index, opened) = SearchIndex::open(&dir, render)?;
    match opened {
        Opened::Existing => tracing::info!(dir = %dir.display(), "search index opened"),
        Opened::Created => tracing::info!(dir = %dir.display(), "search index created"),
        Opened::Replaced(reason) => {
            tracing::warn!(dir = %dir.display(), %reason, "search index unusable: replaced by a new one");
        }
        Opened::InMemory(reason) => {
            tracing::warn!(%reason, "search index kept in memory");
        }
    }
    Ok(index)
}

/// Builds the data services: row tables beside the data, masks keyed by a server key.
pub fn open_rows(
    config: &Config,
    database: Database,
    vault: &Vault,
    catalog: &pdx_catalog::CatalogService,
    clock: Arc<dyn Clock>,
) -> Result<pdx_rows::RowService, ServerError> {
    let masks = SecretHasher::from_key(pdx_access::secrets::vault_key(
        vault,
        "row_mask_hmac",
        &config.data_dir.join("keys").join("row-mask-hmac.key"),
        clock.now(),
    )?);
    let mut limits = pdx_rows::QueryLimits::default();
    if let Some(concurrent) = config.rows.concurrent_queries {
        limits.concurrent = concurrent;
    }
    limits.time = std::time::Duration::from_millis(config.rows.query_timeout_ms);
    limits.idle = std::time::Duration::from_secs(config.rows.idle_connection_secs);
    Ok(pdx_rows::RowService::new(
        database,
        catalog.clone(),
        clock,
        config.tables_dir()?,
        masks,
        limits,
    ))
}

/// Builds the gateway of API distributions: credentials sealed under a server key.
pub fn open_gateway(
    config: &Config,
    database: Database,
    vault: &Vault,
    catalog: &pdx_catalog::CatalogService,
    clock: Arc<dyn Clock>,
) -> Result<pdx_gateway::GatewayService, ServerError> {
    let sealer = pdx_gateway::Sealer::from_vault(
        vault,
        &config
            .data_dir
            .join("keys")
            .join("upstream-credentials.key"),
        clock.now(),
    )?;
    Ok(pdx_gateway::GatewayService::new(
        database,
        catalog.clone(),
        clock,
        sealer,
        pdx_gateway::GatewaySettings {
            allow_private_networks: config.gateway.allow_private_networks,
            circuit_cool_down: Duration::from_secs(config.gateway.circuit_cool_down_secs.max(1)),
        },
    )?)
}

/// Where PDX kept its generated JWT signing keys before the vault (moved into it once).
pub fn legacy_jwt_key_dir(config: &Config) -> std::path::PathBuf {
    config.data_dir.join("keys").join("jwt")
}

/// Builds access control from the configuration: keys, password hashing, token settings.
pub fn open_access(
    config: &Config,
    database: Database,
    vault: &Vault,
    public_url: &str,
    clock: Arc<dyn Clock>,
) -> Result<AccessService, ServerError> {
    let auth = &config.auth;
    let access_ttl = Duration::from_secs(auth.access_token_ttl_secs.max(1));
    let keys = match &auth.signing_key_file {
        Some(file) => KeyRing::open_file(file, access_ttl, clock.clone())?,
        None => KeyRing::open_vault(
            vault.clone(),
            &legacy_jwt_key_dir(config),
            access_ttl,
            clock.clone(),
        )?,
    };
    let secrets = SecretHasher::from_key(pdx_access::secrets::vault_key(
        vault,
        "api_key_hmac",
        &config.data_dir.join("keys").join("api-key-hmac.key"),
        clock.now(),
    )?);
    let settings = AccessSettings {
        tokens: TokenSettings {
            issuer: auth.issuer.clone().unwrap_or_else(|| public_url.to_owned()),
            audience: auth.audience.clone(),
            access_ttl,
            leeway: Duration::from_secs(30),
        },
        refresh_ttl: Duration::from_secs(auth.refresh_token_ttl_secs.max(1)),
        password_policy: PasswordPolicy {
            min_length: auth.password_min_length,
        },
        argon2: Argon2Params {
            memory_kib: auth.argon2_memory_kib,
            iterations: auth.argon2_iterations,
            parallelism: auth.argon2_parallelism,
        },
        throttle: ThrottlePolicy {
            free_failures: auth.login_failures_per_account,
            per_address: auth.login_failures_per_address,
            window: Duration::from_secs(auth.login_window_secs.max(1)),
        },
        bootstrap_admin_email: auth.bootstrap_admin_email.clone(),
        accounts: AccountSettings {
            confirmation_ttl: Duration::from_secs(auth.confirmation_ttl_secs.max(60)),
            invitation_ttl: Duration::from_secs(auth.invitation_ttl_secs.max(60)),
            password_reset_ttl: Duration::from_secs(auth.password_reset_ttl_secs.max(60)),
            requests_per_address_per_hour: auth.account_requests_per_address_per_hour,
        },
        mail: MailSettings {
            from: config.mail.from.clone(),
            smtp_url: config.mail.smtp_url.clone(),
            outbox_dir: config.outbox_dir(),
            public_url: public_url.to_owned(),
            per_recipient_per_hour: config.mail.per_recipient_per_hour,
        },
    };
    let mail_key = pdx_access::secrets::new_vault_key(vault, "mail_outbox", clock.now())?;
    Ok(AccessService::new(
        database,
        clock,
        Arc::new(keys),
        secrets,
        mail_key,
        settings,
    )?)
}

/// The portal's data requests held to the API's per-address limits, counted in the same
/// windows.
#[derive(Debug)]
struct PortalAdmission(Arc<pdx_api::edge::Edge>);

impl pdx_web::DataAdmission for PortalAdmission {
    fn admit(&self, req: &actix_web::HttpRequest, anonymous: bool) -> Result<(), Duration> {
        let admitted = self.0.admit_data(self.0.client_address(req), anonymous);
        if admitted.is_err() {
            metrics::counter!("pdx_data_requests_limited_total").increment(1);
        }
        admitted
    }

    fn failed(&self, req: &actix_web::HttpRequest) {
        self.0.failed(self.0.client_address(req));
    }
}

//! The gateway of one installation: upstreams configured by their publishers, and calls
//! readied (concurrency, circuit) and forwarded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pdx_access::audit::{self, AuditKind, AuditRecord, RequestContext};
use pdx_catalog::CatalogService;
use pdx_catalog::model::DistributionKind;
use pdx_core::{Clock, DistributionId, Principal, Timestamp};
use pdx_licensing::exchange::Unready;
use pdx_storage::presence::Roster;
use pdx_storage::{Database, StorageError};
use tokio::sync::Semaphore;

use crate::breaker::{Breaker, CircuitState, Shared};
use crate::circuits::{self, Exchanged};
use crate::error::GatewayError;
use crate::model::{self, Credential, Upstream, UpstreamInput};
use crate::paths::CallPath;
use crate::relay::{self, Answer, Call, Failure, OnEnd, Outbound};
use crate::seal::Sealer;
use crate::store;

/// How long a call waits for a place among its upstream's running calls.
const QUEUE_WAIT: Duration = Duration::from_millis(500);
/// Distributions whose upstream is remembered, per catalog generation.
const CACHED: usize = 4_096;

/// How the installation lets its gateway reach upstreams.
#[derive(Debug, Clone, Copy)]
pub struct GatewaySettings {
    /// Whether upstreams may be in private networks (loopback, RFC 1918, link-local): off by
    /// default, so that a publisher cannot make PDX call into the network it runs in.
    pub allow_private_networks: bool,
    /// How long an open circuit holds calls off before a probe.
    pub circuit_cool_down: Duration,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            circuit_cool_down: crate::breaker::COOL_DOWN,
        }
    }
}

/// One upstream's running calls and circuit in this process.
#[derive(Debug)]
struct Lane {
    /// The configuration it was made for.
    updated_at: Timestamp,
    /// This process's part of the upstream's calls at once.
    limit: u32,
    permits: Arc<Semaphore>,
    breaker: Arc<Breaker>,
}

/// The lanes of the upstreams called through this process, and the processes they are
/// shared among.
#[derive(Debug)]
struct Lanes {
    by_distribution: HashMap<DistributionId, Arc<Lane>>,
    roster: Roster,
}

/// An upstream's configuration as its publisher sees it: never the credential's secret.
#[derive(Debug, Clone)]
pub struct UpstreamView {
    /// The API distribution.
    pub distribution_id: DistributionId,
    /// Where calls go.
    pub base_url: String,
    /// The credential's kind (`none`, `header`, `bearer`, `basic`, `query`).
    pub credential_kind: &'static str,
    /// The header or parameter it goes under.
    pub credential_name: Option<String>,
    /// When it was entered.
    pub credential_set_at: Option<Timestamp>,
    /// Methods allowed.
    pub methods: Vec<String>,
    /// Path patterns allowed.
    pub paths: Vec<String>,
    /// Milliseconds the upstream may take.
    pub timeout_ms: u32,
    /// Calls at once, for the platform.
    pub max_concurrency: u32,
    /// Calls at once this server allows: its part of `max_concurrency` among the servers
    /// running.
    pub max_concurrency_here: u32,
    /// When the configuration last changed.
    pub updated_at: Timestamp,
    /// The circuit as this server sees it.
    pub circuit: CircuitState,
    /// Consecutive failures this server counted.
    pub failures: u32,
    /// Calls this server is forwarding now.
    pub in_flight: u32,
}

/// Upstreams by distribution and catalog generation (none: not configured).
type UpstreamCache = quick_cache::sync::Cache<(DistributionId, i64), Option<Arc<Upstream>>>;

/// The gateway.
#[derive(Clone)]
pub struct GatewayService {
    db: Database,
    catalog: CatalogService,
    clock: Arc<dyn Clock>,
    sealer: Sealer,
    client: reqwest::Client,
    settings: GatewaySettings,
    upstreams: Arc<UpstreamCache>,
    lanes: Arc<Mutex<Lanes>>,
}

impl std::fmt::Debug for GatewayService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Resolves upstream names to public addresses only, so that a name cannot lead the gateway
/// into a private network (including by a DNS answer that changes after configuration).
#[derive(Debug)]
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| model::public_address(address.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addresses: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addresses)
        })
    }
}

impl GatewayService {
    /// The gateway over a database, sealing credentials with `sealer`.
    pub fn new(
        db: Database,
        catalog: CatalogService,
        clock: Arc<dyn Clock>,
        sealer: Sealer,
        settings: GatewaySettings,
    ) -> Result<Self, GatewayError> {
        let mut client = reqwest::Client::builder()
            .user_agent(concat!("PDX-Gateway/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true);
        if !settings.allow_private_networks {
            client = client.dns_resolver(Arc::new(PublicOnly));
        }
        let client = client
            .build()
            .map_err(|e| GatewayError::invalid("gateway", format!("no HTTP client: {e}")))?;
        Ok(Self {
            db,
            catalog,
            clock,
            sealer,
            client,
            settings,
            upstreams: Arc::new(quick_cache::sync::Cache::new(CACHED)),
            lanes: Arc::new(Mutex::new(Lanes {
                by_distribution: HashMap::new(),
                roster: Roster::ALONE,
            })),
        })
    }

    /// The time on this installation's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// An API distribution the principal's organisation publishes (and may edit).
    async fn editable(
        &self,
        principal: &Principal,
        id: DistributionId,
    ) -> Result<pdx_catalog::model::Dataset, GatewayError> {
        let (distribution, dataset) = self.catalog.distribution(Some(principal), id).await?;
        pdx_catalog::permissions::edit_dataset(principal, &dataset)?;
        if distribution.kind != DistributionKind::Api {
            return Err(GatewayError::NotApi);
        }
        Ok(dataset)
    }

    /// Configures (or reconfigures) an API distribution's upstream. A credential left out is
    /// kept; one given replaces it and is never shown again.
    pub async fn configure(
        &self,
        principal: &Principal,
        id: DistributionId,
        input: UpstreamInput,
        context: &RequestContext,
    ) -> Result<UpstreamView, GatewayError> {
        let dataset = self.editable(principal, id).await?;
        let now = self.clock.now();
        let base_url = model::base_url(&input.base_url, self.settings.allow_private_networks)?;
        let methods = model::methods(input.methods)?;
        let paths = model::paths(input.paths)?;
        let timeout_ms = model::bounded(
            "timeout_ms",
            input.timeout_ms,
            model::TIMEOUT_MS,
            model::DEFAULT_TIMEOUT_MS,
        )?;
        let max_concurrency = model::bounded(
            "max_concurrency",
            input.max_concurrency,
            model::CONCURRENCY,
            model::DEFAULT_CONCURRENCY,
        )?;
        if let Some(credential) = &input.credential {
            credential.validate()?;
        }
        let (sealer, who, context) = (self.sealer.clone(), principal.clone(), context.clone());
        let dataset_id = dataset.id;
        let new_credential = input.credential;
        let saved = self
            .db
            .write(move |conn| {
                // Kept when none is given: one that cannot be opened fails the change rather
                // than being dropped unnoticed.
                let (credential, credential_set_at) = match new_credential {
                    Some(credential) => (credential, Some(now)),
                    None => store::find(conn, &sealer, id)?
                        .map(|e| (e.credential, e.credential_set_at))
                        .unwrap_or((Credential::None, None)),
                };
                let upstream = Upstream {
                    distribution_id: id,
                    base_url,
                    credential,
                    credential_set_at,
                    methods,
                    paths,
                    timeout_ms,
                    max_concurrency,
                    updated_at: now,
                };
                store::save(conn, &sealer, &upstream)?;
                let event = AuditRecord::success(
                    AuditKind::ApiUpstreamConfigured,
                    Some(who.user),
                    Some(who.org),
                )
                .subject(dataset_id)
                .detail(serde_json::json!({
                    "distribution": id,
                    "base_url": upstream.base_url.as_str(),
                    "credential": upstream.credential.kind(),
                    "credential_changed": credential_set_at == Some(now),
                    "methods": upstream.methods,
                    "paths": upstream.paths.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                    "timeout_ms": timeout_ms,
                    "max_concurrency": max_concurrency,
                }));
                audit::record(conn, &event, &context, now)
                    .map_err(|e| StorageError::Task(format!("audit: {e}")))?;
                pdx_storage::generation::bump(conn, pdx_storage::generation::CATALOG)?;
                Ok::<_, GatewayError>(upstream)
            })
            .await?;
        self.catalog.generation_moved();
        Ok(self.view(&saved))
    }

    /// An API distribution's upstream as its publisher sees it.
    pub async fn upstream(
        &self,
        principal: &Principal,
        id: DistributionId,
    ) -> Result<UpstreamView, GatewayError> {
        self.editable(principal, id).await?;
        let sealer = self.sealer.clone();
        let upstream = self
            .db
            .run(move |conn| store::find(conn, &sealer, id))
            .await?
            .ok_or(GatewayError::NotConfigured)?;
        Ok(self.view(&upstream))
    }

    /// Removes an API distribution's upstream: the gateway forwards nothing more to it.
    pub async fn remove(
        &self,
        principal: &Principal,
        id: DistributionId,
        context: &RequestContext,
    ) -> Result<(), GatewayError> {
        let dataset = self.editable(principal, id).await?;
        let now = self.clock.now();
        let (who, context) = (principal.clone(), context.clone());
        let dataset_id = dataset.id;
        self.db
            .write(move |conn| {
                if !store::remove(conn, id)? {
                    return Err(GatewayError::NotConfigured);
                }
                let event = AuditRecord::success(
                    AuditKind::ApiUpstreamRemoved,
                    Some(who.user),
                    Some(who.org),
                )
                .subject(dataset_id)
                .detail(serde_json::json!({ "distribution": id }));
                audit::record(conn, &event, &context, now)
                    .map_err(|e| StorageError::Task(format!("audit: {e}")))?;
                pdx_storage::generation::bump(conn, pdx_storage::generation::CATALOG)?;
                Ok(())
            })
            .await?;
        self.catalog.generation_moved();
        self.lanes().by_distribution.remove(&id);
        Ok(())
    }

    fn view(&self, upstream: &Upstream) -> UpstreamView {
        let lane = self.lane(upstream);
        let (circuit, failures) = lane.breaker.state();
        let free = u32::try_from(lane.permits.available_permits()).unwrap_or(u32::MAX);
        UpstreamView {
            distribution_id: upstream.distribution_id,
            base_url: upstream.base_url.to_string(),
            credential_kind: upstream.credential.kind(),
            credential_name: upstream.credential.name().map(str::to_owned),
            credential_set_at: upstream.credential_set_at,
            methods: upstream.methods.clone(),
            paths: upstream
                .paths
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            timeout_ms: upstream.timeout_ms,
            max_concurrency: upstream.max_concurrency,
            max_concurrency_here: lane.limit,
            updated_at: upstream.updated_at,
            circuit,
            failures,
            in_flight: lane.limit.saturating_sub(free),
        }
    }

    fn lanes(&self) -> std::sync::MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// This process's lane of an upstream: made anew when its configuration changed, and
    /// with new room (the same circuit) when the servers running changed.
    fn lane(&self, upstream: &Upstream) -> Arc<Lane> {
        let mut lanes = self.lanes();
        let limit = lanes.roster.share(upstream.max_concurrency.max(1));
        let breaker = match lanes.by_distribution.get(&upstream.distribution_id) {
            Some(lane) if lane.updated_at == upstream.updated_at && lane.limit == limit => {
                return Arc::clone(lane);
            }
            // Calls running under the old limit finish under it.
            Some(lane) if lane.updated_at == upstream.updated_at => Arc::clone(&lane.breaker),
            _ => Arc::new(Breaker::with(
                crate::breaker::TRIP_AFTER,
                self.settings.circuit_cool_down,
            )),
        };
        let lane = Arc::new(Lane {
            updated_at: upstream.updated_at,
            limit,
            permits: Arc::new(Semaphore::new(limit as usize)),
            breaker,
        });
        lanes
            .by_distribution
            .insert(upstream.distribution_id, Arc::clone(&lane));
        lane
    }

    /// Exchanges the upstreams' circuits with the other server processes through the
    /// database, and shares each upstream's calls at once out among the processes running
    /// (`roster`); run about once a second by the server. A circuit opened by one process is
    /// open for all within that moment, and closed for all once one's probe got through.
    pub async fn exchange(&self, holder: &str, roster: Roster) -> Result<(), GatewayError> {
        let lanes: Vec<(DistributionId, Arc<Lane>)> = {
            let mut lanes = self.lanes();
            lanes.roster = roster;
            lanes
                .by_distribution
                .iter()
                .map(|(id, lane)| (*id, Arc::clone(lane)))
                .collect()
        };
        if lanes.is_empty() {
            return Ok(());
        }
        let told: Vec<Option<(u64, Shared)>> = lanes
            .iter()
            .map(|(_, lane)| lane.breaker.unshared())
            .collect();
        let circuits: Vec<Exchanged> = lanes
            .iter()
            .zip(&told)
            .map(|((id, lane), told)| Exchanged {
                distribution_id: *id,
                configured_at: lane.updated_at,
                told: told.map(|(_, shared)| shared),
            })
            .collect();
        let (holder, now) = (holder.to_owned(), self.clock.now());
        let remote = self
            .db
            .write(move |conn| circuits::exchange(conn, &holder, now, &circuits))
            .await?;
        for (((_, lane), told), remote) in lanes.iter().zip(told).zip(remote) {
            lane.breaker.settle(told.map(|(number, _)| number), remote);
        }
        Ok(())
    }

    /// The upstream calls to a distribution go to, as of the current catalog generation.
    async fn current(&self, id: DistributionId) -> Result<Option<Arc<Upstream>>, GatewayError> {
        let generation = self.catalog.current_generation().await?;
        if let Some(found) = self.upstreams.get(&(id, generation)) {
            return Ok(found);
        }
        let sealer = self.sealer.clone();
        let found = self
            .db
            .run(move |conn| store::find(conn, &sealer, id))
            .await?
            .map(Arc::new);
        self.upstreams.insert((id, generation), found.clone());
        Ok(found)
    }

    /// Whether calls to a distribution have an upstream to go to.
    pub async fn configured(&self, id: DistributionId) -> bool {
        matches!(self.current(id).await, Ok(Some(_)))
    }

    /// Readies a call before it is decided: the upstream is configured, allows the method and
    /// path, has room for one more call and a closed circuit. Otherwise why not (and, for a
    /// busy or failing upstream, when to try again).
    pub async fn ready(
        &self,
        id: DistributionId,
        method: &str,
        path: &CallPath,
    ) -> Result<Call, (Unready, Option<Duration>)> {
        let upstream = match self.current(id).await {
            Ok(Some(upstream)) => upstream,
            Ok(None) => return Err((Unready::NotConfigured, None)),
            Err(error) => {
                tracing::warn!(%error, distribution = %id, "an upstream could not be read");
                return Err((Unready::NotConfigured, None));
            }
        };
        if !upstream.methods.iter().any(|m| m == method) {
            return Err((Unready::MethodNotAllowed, None));
        }
        if !upstream.paths.iter().any(|rule| rule.matches(path)) {
            return Err((Unready::PathNotAllowed, None));
        }
        if !self.settings.allow_private_networks && !model::public_host(&upstream.base_url) {
            return Err((Unready::NotConfigured, None));
        }
        let lane = self.lane(&upstream);
        let leave = lane
            .breaker
            .admit()
            .map_err(|wait| (Unready::CircuitOpen, Some(wait)))?;
        let permit = match Arc::clone(&lane.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                match tokio::time::timeout(QUEUE_WAIT, Arc::clone(&lane.permits).acquire_owned())
                    .await
                {
                    Ok(Ok(permit)) => permit,
                    _ => {
                        metrics::counter!("pdx_gateway_busy_total").increment(1);
                        return Err((Unready::Busy, Some(Duration::from_secs(1))));
                    }
                }
            }
        };
        Ok(Call {
            upstream,
            permit,
            leave,
        })
    }

    /// Forwards a readied (and permitted) call; see [`relay`]. `on_end` is told how it ended,
    /// exactly once.
    pub async fn forward(
        &self,
        call: Call,
        outbound: Outbound,
        on_end: OnEnd,
    ) -> Result<Answer, Failure> {
        let result = relay::forward(&self.client, call, outbound, on_end).await;
        let label = match &result {
            Ok(_) => "answered",
            Err(failure) => failure.code(),
        };
        metrics::counter!("pdx_gateway_calls_total", "outcome" => label).increment(1);
        result
    }
}

//! The PDX portal: server-rendered, bilingual HTML pages for people, served by the same
//! `pdx serve` as the API, working without JavaScript and reading the same domain services.

pub mod accounts;
pub mod admin;
pub mod assets;
pub mod audit;
pub mod catalog;
pub mod charts;
pub mod columns;
pub mod error;
pub mod exchange;
pub mod forms;
pub mod gateway;
pub mod grants;
pub mod i18n;
pub mod info;
pub mod keys;
pub mod ledger;
pub mod organizations;
pub mod page;
pub mod publish;
pub mod review;
pub mod session;
pub mod table;
pub mod words;
pub mod workspace;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use pdx_access::AccessService;
use pdx_catalog::CatalogService;
use pdx_circulation::LedgerService;
use pdx_circulation::accounting::{Dimension, Outcome, Period, UsageQuery};
use pdx_core::Clock;
use pdx_licensing::LicensingService;

use crate::error::WebError;
use crate::i18n::{LANG_COOKIE, Lang};

pub use error::not_found;

/// How the portal names itself.
#[derive(Debug, Clone)]
pub struct PortalSettings {
    /// The portal's name in Chinese.
    pub name_zh: String,
    /// The portal's name in English.
    pub name_en: String,
}

impl Default for PortalSettings {
    fn default() -> Self {
        Self {
            name_zh: "公共数据开放平台".to_owned(),
            name_en: "Public Data Exchange".to_owned(),
        }
    }
}

impl PortalSettings {
    /// The name in a language.
    pub fn site_name(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.name_zh,
            Lang::En => &self.name_en,
        }
    }
}

/// How long figures that change slowly (licence titles, the most used datasets) are reused.
const SLOW_FIGURES_TTL: Duration = Duration::from_secs(60);

/// How long the home page's catalog figures (total, themes with counts, newest) are reused:
/// they are the same for every visitor, and counting themes over the whole catalog is the
/// dearest part of the page. A publication shows there within this time (in search at once).
const HOME_FIGURES_TTL: Duration = Duration::from_secs(10);

/// A value computed at most once per interval.
#[derive(Debug)]
struct Kept<T> {
    ttl: Duration,
    value: Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> Kept<T> {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            value: Mutex::new(None),
        }
    }

    fn fresh(&self) -> Option<Arc<T>> {
        let guard = self.value.lock().ok()?;
        guard
            .as_ref()
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, value)| Arc::clone(value))
    }

    fn keep(&self, value: T) -> Arc<T> {
        let value = Arc::new(value);
        if let Ok(mut guard) = self.value.lock() {
            *guard = Some((Instant::now(), Arc::clone(&value)));
        }
        value
    }
}

/// What the portal's pages share, registered as `web::Data<WebState>`.
#[derive(Clone)]
pub struct WebState {
    /// Access control.
    pub access: AccessService,
    /// The catalog.
    pub catalog: CatalogService,
    /// Licensing.
    pub licensing: LicensingService,
    /// The ledger.
    pub ledger: LedgerService,
    /// The data services (tables of rows).
    pub rows: pdx_rows::RowService,
    /// The gateway of live APIs.
    pub gateway: pdx_gateway::GatewayService,
    /// The per-address limits of the data path.
    pub admission: Arc<dyn DataAdmission>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Names.
    pub settings: PortalSettings,
    /// Whether the portal is reached over https (cookies are then `Secure`).
    pub https: bool,
    licences: Arc<Kept<Vec<(String, String)>>>,
    most_used: Arc<Kept<Vec<(pdx_catalog::model::Dataset, i64)>>>,
    home: Arc<Kept<catalog::HomeFigures>>,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The services the portal works through (the same the API does).
#[derive(Clone, Debug)]
pub struct Services {
    /// Access control.
    pub access: AccessService,
    /// The catalog.
    pub catalog: CatalogService,
    /// Licensing.
    pub licensing: LicensingService,
    /// The ledger.
    pub ledger: LedgerService,
    /// The data services.
    pub rows: pdx_rows::RowService,
    /// The gateway of live APIs.
    pub gateway: pdx_gateway::GatewayService,
    /// The per-address limits of the data path, shared with the API.
    pub admission: Arc<dyn DataAdmission>,
}

/// The per-address limits of the data path: the portal's data requests count against the
/// same limits as the API's (the server gives the API's edge).
pub trait DataAdmission: Send + Sync + std::fmt::Debug {
    /// Admits a data request from the client of `req` (`anonymous`: without a session, counted
    /// against the anonymous limit); how long to wait when it is over a limit.
    fn admit(&self, req: &HttpRequest, anonymous: bool) -> Result<(), Duration>;
    /// Counts a refused data request from the client of `req`.
    fn failed(&self, req: &HttpRequest);
}

impl WebState {
    /// The portal over these services.
    pub fn new(
        services: Services,
        clock: Arc<dyn Clock>,
        settings: PortalSettings,
        https: bool,
    ) -> Self {
        let Services {
            access,
            catalog,
            licensing,
            ledger,
            rows,
            gateway,
            admission,
        } = services;
        Self {
            https,
            admission,
            access,
            catalog,
            licensing,
            ledger,
            rows,
            gateway,
            clock,
            settings,
            licences: Arc::new(Kept::new(SLOW_FIGURES_TTL)),
            most_used: Arc::new(Kept::new(SLOW_FIGURES_TTL)),
            home: Arc::new(Kept::new(HOME_FIGURES_TTL)),
        }
    }

    /// A licence's title.
    pub(crate) async fn licence_title(&self, id: &str) -> Result<Option<String>, WebError> {
        let titles = match self.licences.fresh() {
            Some(titles) => titles,
            None => {
                let licences = self.catalog.licences().await?;
                self.licences
                    .keep(licences.into_iter().map(|l| (l.id, l.title)).collect())
            }
        };
        Ok(titles
            .iter()
            .find(|(known, _)| known == id)
            .map(|(_, title)| title.clone()))
    }

    /// The published datasets most requested (permitted requests) over the last 30 days,
    /// with their counts.
    pub(crate) async fn most_used(
        &self,
        limit: usize,
    ) -> Result<Arc<Vec<(pdx_catalog::model::Dataset, i64)>>, WebError> {
        if let Some(kept) = self.most_used.fresh() {
            return Ok(kept);
        }
        let calendar = self.ledger.accounting_calendar().await?;
        let today = calendar.day(self.clock.now());
        let query = UsageQuery {
            from: today - chrono::Duration::days(29),
            to: today,
            period: Period::Month,
            group_by: vec![Dimension::Dataset],
            dataset: None,
            provider: None,
            consumer: None,
            grant: None,
            purpose: None,
            decision: Some(Outcome::Permit),
            party: None,
        };
        let (_, rows) = self.ledger.usage(query).await?;
        let mut totals: std::collections::HashMap<String, i64> = Default::default();
        for row in rows {
            if let Some(dataset) = row.key.get(&Dimension::Dataset)
                && !dataset.is_empty()
            {
                *totals.entry(dataset.clone()).or_default() +=
                    i64::try_from(row.figures.requests).unwrap_or(i64::MAX);
            }
        }
        let mut ranked: Vec<(String, i64)> = totals.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut most_used = Vec::new();
        for (id, requests) in ranked {
            if most_used.len() >= limit {
                break;
            }
            // Only datasets published now; withdrawn ones are not offered.
            if let Ok(view) = self.catalog.dataset(None, &id).await {
                most_used.push((view.dataset, requests));
            }
        }
        Ok(self.most_used.keep(most_used))
    }
}

/// Registers the portal's pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(catalog::home)
        .service(catalog::search)
        .service(catalog::dataset)
        .service(exchange::request_form)
        .service(exchange::send_request)
        .service(exchange::download)
        .service(table::choose)
        .service(table::rows)
        .service(organizations::list_organizations)
        .service(organizations::organization)
        .service(info::reports)
        .service(info::about)
        .service(info::accessibility)
        .service(session::sign_in_form)
        .service(session::sign_in)
        .service(session::sign_out)
        .service(session::act_for)
        .service(accounts::register_form)
        .service(accounts::register)
        .service(accounts::confirm_form)
        .service(accounts::confirm)
        .service(accounts::password_reset_form)
        .service(accounts::password_reset_request)
        .service(accounts::password_reset)
        .service(accounts::invitation_form)
        .service(accounts::accept_invitation)
        .service(workspace::workspace)
        .service(workspace::enterprise)
        .service(workspace::withdraw_request)
        .service(workspace::agency)
        .service(workspace::audit)
        .service(review::request_view)
        .service(publish::new_form)
        .service(publish::create)
        .service(publish::edit_form)
        .service(publish::update)
        .service(publish::lifecycle)
        .service(publish::put_offer)
        .service(publish::upload)
        .service(gateway::add)
        .service(gateway::configure)
        .service(gateway::remove)
        .service(publish::manage)
        .service(grants::issued)
        .service(grants::change)
        .service(review::approve_request)
        .service(review::reject_request)
        .service(ledger::browse)
        .service(admin::organizations_view)
        .service(admin::create_agency)
        .service(admin::verification)
        .service(admin::members_view)
        .service(admin::set_roles)
        .service(admin::remove_member)
        .service(admin::invite)
        .service(admin::withdraw_invitation)
        .service(admin::licences_view)
        .service(admin::create_licence)
        .service(audit::usage)
        .service(audit::anomalies)
        .service(keys::keys_view)
        .service(keys::create)
        .service(keys::revoke)
        .service(ledger::entry_view)
        .service(ledger::statement_csv)
        .service(ledger::statement_view)
        .service(assets::static_asset)
        .service(switch_language);
}

/// Remembers the visitor's language in a cookie and goes back to the page they were on.
#[get("/lang/{lang}")]
async fn switch_language(req: HttpRequest, lang: web::Path<String>) -> HttpResponse {
    let next =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("next").cloned())
            .filter(|next| is_local_path(next))
            .unwrap_or_else(|| "/".to_owned());
    let Some(lang) = Lang::from_slug(&lang) else {
        return error::not_found_page(&page::Ctx::load(&req).await);
    };
    let https = req.connection_info().scheme() == "https";
    let cookie = actix_web::cookie::Cookie::build(LANG_COOKIE, lang.slug())
        .path("/")
        .max_age(actix_web::cookie::time::Duration::days(365))
        .same_site(actix_web::cookie::SameSite::Lax)
        .http_only(true)
        .secure(https)
        .finish();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .cookie(cookie)
        .finish()
}

/// A path on this site (not `//host`, not a scheme, no backslashes), safe to redirect to.
pub fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_a_switch() {
        assert!(is_local_path("/datasets?q=bus"));
        assert!(!is_local_path("//evil.example/"));
        assert!(!is_local_path("https://evil.example/"));
        assert!(!is_local_path("/\\evil.example"));
        assert!(!is_local_path("/\nLocation: x"));
        assert!(!is_local_path(""));
    }
}

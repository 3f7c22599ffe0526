//! The edge policy every answer passes: security headers, cross-origin access for the
//! configured browser origins only, the client's address (from `X-Forwarded-For` only behind a
//! trusted proxy), per-address limits on the data path, and who may read `/metrics`.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use pdx_storage::StorageError;
use pdx_storage::counters::SharedWindows;

/// How an installation faces the network, from its configuration.
#[derive(Debug, Clone, Default)]
pub struct EdgeSettings {
    /// Whether PDX is reached over https (its public URL): answers then carry HSTS.
    pub https: bool,
    /// When set, `/metrics` answers only to `Authorization: Bearer <this token>`.
    pub metrics_token: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed; from anyone else it is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Browser origins allowed to call the API cross-origin (`*` for any, never with
    /// credentials); none by default.
    pub cors_origins: Vec<String>,
    /// Anonymous data requests allowed per client address and minute (0: unlimited).
    pub anonymous_data_per_minute: u32,
    /// Refused data requests allowed per client address and minute before further data
    /// requests from it are turned away (0: unlimited).
    pub failed_data_per_minute: u32,
}

impl EdgeSettings {
    /// Parses trusted proxies given as addresses (`10.0.0.7`) or networks (`10.0.0.0/8`).
    pub fn parse_proxies(proxies: &[String]) -> Result<Vec<ipnet::IpNet>, String> {
        proxies
            .iter()
            .map(|proxy| {
                proxy
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| proxy.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("{proxy:?} is neither an address nor a network"))
            })
            .collect()
    }
}

/// The edge's settings and the counters of its limits, shared by all workers and, through
/// the database, by every server process.
#[derive(Debug)]
pub struct Edge {
    /// The settings.
    pub settings: EdgeSettings,
    anonymous: SharedWindows,
    failures: SharedWindows,
}

impl Default for Edge {
    fn default() -> Self {
        Self::new(EdgeSettings::default())
    }
}

impl Edge {
    /// An edge with these settings and empty counters.
    pub fn new(settings: EdgeSettings) -> Self {
        Self {
            settings,
            anonymous: SharedWindows::new("anonymous_data", WINDOW),
            failures: SharedWindows::new("failed_data", WINDOW),
        }
    }

    /// Exchanges the limits' counts with the other server processes (about once a second).
    pub fn sync(&self, conn: &mut pdx_storage::DbConnection) -> Result<(), StorageError> {
        let now = epoch_seconds().floor() as i64;
        self.anonymous.sync(conn, now)?;
        self.failures.sync(conn, now)
    }

    /// The client's address: the peer's, or — when the peer is a trusted proxy — the last
    /// address in `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_address(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr().map(|addr| addr.ip())?;
        if !self.trusted(peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = req
            .headers()
            .get_all(HeaderName::from_static("x-forwarded-for"))
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|part| part.trim().parse().ok())
            .collect();
        Some(
            forwarded
                .into_iter()
                .rev()
                .find(|address| !self.trusted(*address))
                .unwrap_or(peer),
        )
    }

    fn trusted(&self, address: IpAddr) -> bool {
        self.settings
            .trusted_proxies
            .iter()
            .any(|net| net.contains(&address))
    }

    /// Admits a data request from `address`: a run of refusals from it waits, and so does an
    /// anonymous request over the anonymous limit (which counts it); how long to wait.
    pub fn admit_data(&self, address: Option<IpAddr>, anonymous: bool) -> Result<(), Duration> {
        self.admit_after_failures(address)?;
        if anonymous {
            self.admit_anonymous(address)
        } else {
            Ok(())
        }
    }

    /// Counts an anonymous data request from `address`; how long to wait when over the limit.
    pub fn admit_anonymous(&self, address: Option<IpAddr>) -> Result<(), Duration> {
        if self.settings.anonymous_data_per_minute == 0 {
            return Ok(());
        }
        self.anonymous
            .hit(
                &subject(address),
                self.settings.anonymous_data_per_minute,
                epoch_seconds(),
            )
            .map_err(|refused| refused.wait)
    }

    /// Whether `address` may still make data requests after its refusals; how long to wait
    /// when it may not.
    pub fn admit_after_failures(&self, address: Option<IpAddr>) -> Result<(), Duration> {
        if self.settings.failed_data_per_minute == 0 {
            return Ok(());
        }
        self.failures
            .check(
                &subject(address),
                self.settings.failed_data_per_minute,
                epoch_seconds(),
            )
            .map_err(|refused| refused.wait)
    }

    /// Counts a refused data request from `address`.
    pub fn failed(&self, address: Option<IpAddr>) {
        if self.settings.failed_data_per_minute > 0 {
            self.failures.count(&subject(address), epoch_seconds());
        }
    }

    /// Whether a `/metrics` request may read the metrics.
    pub fn may_read_metrics(&self, req: &HttpRequest) -> bool {
        let Some(expected) = &self.settings.metrics_token else {
            return true;
        };
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .unwrap_or("");
        constant_time_eq(presented.as_bytes(), expected.as_bytes())
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let longest = a.len().max(b.len());
    let mut difference = u8::from(a.len() != b.len());
    for i in 0..longest {
        difference |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    difference == 0
}

/// The length of every limit's window.
const WINDOW: Duration = Duration::from_secs(60);

/// What a limit counts: the client's address, or one subject for every unknown one.
fn subject(address: Option<IpAddr>) -> String {
    address.map_or_else(|| "unknown".to_owned(), |a| a.to_string())
}

/// Now, in seconds since the epoch.
fn epoch_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The content security policy of the API: nothing may load, nothing may frame it.
const API_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// The API reference page runs the vendored Swagger UI from this server, and nothing else.
const DOCS_POLICY: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The portal's pages load this server's stylesheet and script, post their forms here, and
/// nothing else; no inline script or style.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Adds the security headers to an answer: `docs` for the API reference page, `https` when
/// PDX is reached over https; an HTML answer elsewhere is a portal page. The request observer
/// calls it for every answer, errors included.
pub(crate) fn decorate(headers: &mut HeaderMap, https: bool, docs: bool) {
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    let policy = match (docs, html) {
        (true, _) => DOCS_POLICY,
        (false, true) => PAGE_POLICY,
        (false, false) => API_POLICY,
    };
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
}

/// Cross-origin access for the configured browser origins: preflights answered, the data
/// path's receipt headers exposed, credentials (cookies) never allowed.
pub fn cors(settings: &EdgeSettings) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default();
    for origin in &settings.cors_origins {
        cors = if origin == "*" {
            cors.allow_any_origin().send_wildcard()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors.allowed_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::ACCEPT,
            header::CONTENT_TYPE,
            header::RANGE,
            header::IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-pdx-purpose"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::CONTENT_DISPOSITION,
            header::CONTENT_RANGE,
            header::ETAG,
            header::RETRY_AFTER,
            HeaderName::from_static("x-pdx-ledger-seq"),
            HeaderName::from_static("x-pdx-replay-seq"),
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(3600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn edge(proxies: &[&str]) -> Edge {
        Edge::new(EdgeSettings {
            trusted_proxies: proxies.iter().filter_map(|p| p.parse().ok()).collect(),
            anonymous_data_per_minute: 2,
            failed_data_per_minute: 1,
            ..EdgeSettings::default()
        })
    }

    fn from(peer: &str, forwarded: Option<&str>) -> HttpRequest {
        let mut request =
            TestRequest::default().peer_addr(peer.parse().unwrap_or_else(|_| panic!("{peer}")));
        if let Some(value) = forwarded {
            request = request.insert_header(("x-forwarded-for", value));
        }
        request.to_http_request()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        let edge = edge(&["10.0.0.0/8"]);
        assert_eq!(
            edge.client_address(&from("203.0.113.9:4000", Some("198.51.100.1"))),
            ip("203.0.113.9"),
            "a client cannot pick its own address"
        );
        assert_eq!(
            edge.client_address(&from("10.0.0.2:4000", Some("1.2.3.4, 198.51.100.1"))),
            ip("198.51.100.1"),
            "the proxy's view of the client, not what the client prepended"
        );
        assert_eq!(
            edge.client_address(&from("10.0.0.2:4000", Some("198.51.100.1, 10.0.0.7"))),
            ip("198.51.100.1"),
            "chained trusted proxies are skipped"
        );
        assert_eq!(
            edge.client_address(&from("10.0.0.2:4000", None)),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn limits_count_per_address_and_window() {
        let edge = edge(&[]);
        let a = "192.0.2.1".parse().ok();
        let b = "192.0.2.2".parse().ok();
        assert!(edge.admit_anonymous(a).is_ok());
        assert!(edge.admit_anonymous(a).is_ok());
        let wait = edge.admit_anonymous(a).err();
        assert!(
            wait.is_some_and(|w| w <= WINDOW),
            "the third in a minute waits"
        );
        assert!(
            edge.admit_anonymous(b).is_ok(),
            "another address is not affected"
        );
        assert!(edge.admit_after_failures(a).is_ok());
        edge.failed(a);
        assert!(edge.admit_after_failures(a).is_err());
        assert!(edge.admit_after_failures(b).is_ok());
    }

    #[test]
    fn metrics_token_must_match_exactly() {
        let edge = Edge::new(EdgeSettings {
            metrics_token: Some("s3cret-scrape".into()),
            ..EdgeSettings::default()
        });
        let with = |value: Option<&str>| {
            let mut request = TestRequest::default();
            if let Some(value) = value {
                request = request.insert_header((header::AUTHORIZATION, value));
            }
            edge.may_read_metrics(&request.to_http_request())
        };
        assert!(with(Some("Bearer s3cret-scrape")));
        assert!(!with(Some("Bearer s3cret-scrap")));
        assert!(!with(Some("Bearer s3cret-scrape2")));
        assert!(!with(None));
        assert!(constant_time_eq(b"", b""));
    }
}

//! An API distribution's upstream as the publisher declares it, and the rules its settings
//! must follow.

use std::net::IpAddr;

use pdx_core::{DistributionId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::GatewayError;
use crate::paths::PathRule;

/// Methods allowed when the publisher names none: read-only calls.
pub const DEFAULT_METHODS: [&str; 2] = ["GET", "HEAD"];
/// Methods a publisher may allow.
pub const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
/// How long an upstream may take to begin its answer, or between two parts of it, when the
/// publisher names no time.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
/// The bounds of an upstream's time.
pub const TIMEOUT_MS: std::ops::RangeInclusive<u32> = 100..=120_000;
/// Calls an upstream serves at once when the publisher names no limit.
pub const DEFAULT_CONCURRENCY: u32 = 16;
/// The bounds of an upstream's concurrency.
pub const CONCURRENCY: std::ops::RangeInclusive<u32> = 1..=1_024;
/// Most path patterns of one upstream.
const MAX_PATHS: usize = 64;
/// Longest base URL.
const MAX_URL: usize = 2_048;
/// Longest credential value.
const MAX_SECRET: usize = 4_096;

/// The credential PDX presents to an upstream. Its secret parts are sealed at rest and never
/// shown again; `Debug` prints the kind only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credential {
    /// No credential: the upstream is open to PDX.
    None,
    /// A header of the publisher's naming, e.g. `X-Api-Key`.
    Header {
        /// The header's name.
        name: String,
        /// Its value.
        value: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: String,
    },
    /// `Authorization: Basic …` (RFC 7617).
    Basic {
        /// The user name (no `:`).
        username: String,
        /// The password.
        password: String,
    },
    /// A query parameter of the publisher's naming, e.g. `?key=…`.
    Query {
        /// The parameter's name.
        name: String,
        /// Its value.
        value: String,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential::{}(..)", self.kind())
    }
}

/// Header names a credential may not take: the protocol's own, and PDX's.
const RESERVED_HEADERS: [&str; 12] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-authorization",
    "cookie",
    "forwarded",
];

impl Credential {
    /// `none`, `header`, `bearer`, `basic` or `query`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Header { .. } => "header",
            Self::Bearer { .. } => "bearer",
            Self::Basic { .. } => "basic",
            Self::Query { .. } => "query",
        }
    }

    /// The header or parameter name it goes under, which may be shown.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Header { name, .. } | Self::Query { name, .. } => Some(name),
            Self::Bearer { .. } | Self::Basic { .. } => Some("Authorization"),
            Self::None => None,
        }
    }

    /// The strings that must never reach a caller: each secret as PDX sends it.
    pub(crate) fn secrets(&self) -> Vec<Vec<u8>> {
        use base64::Engine;
        let mut secrets = match self {
            Self::None => Vec::new(),
            Self::Header { value, .. } | Self::Query { value, .. } => {
                vec![value.as_bytes().to_vec()]
            }
            Self::Bearer { token } => vec![token.as_bytes().to_vec()],
            Self::Basic { username, password } => vec![
                password.as_bytes().to_vec(),
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"))
                    .into_bytes(),
            ],
        };
        if let Self::Query { value, .. } = self {
            // As it goes into a URL.
            let encoded: String =
                percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            secrets.push(encoded.into_bytes());
        }
        // Too short a secret would match ordinary text; such secrets are refused on entry.
        secrets.retain(|s| s.len() >= MIN_SECRET);
        secrets.dedup();
        secrets
    }

    /// Checks the credential's shape; the error names the field.
    pub fn validate(&self) -> Result<(), GatewayError> {
        let secret = |field: &str, value: &str| {
            if value.len() < MIN_SECRET || value.len() > MAX_SECRET {
                return Err(GatewayError::invalid(
                    field,
                    format!("must be {MIN_SECRET} to {MAX_SECRET} characters"),
                ));
            }
            if value.chars().any(|c| c.is_control()) {
                return Err(GatewayError::invalid(
                    field,
                    "must not hold control characters",
                ));
            }
            Ok(())
        };
        match self {
            Self::None => Ok(()),
            Self::Header { name, value } => {
                let lower = name.to_ascii_lowercase();
                if name.is_empty()
                    || name.len() > 128
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                {
                    return Err(GatewayError::invalid(
                        "credential.name",
                        "must be a header name of letters, digits, `-` and `_`",
                    ));
                }
                if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("x-pdx-") {
                    return Err(GatewayError::invalid(
                        "credential.name",
                        format!("`{name}` is a header PDX sets itself"),
                    ));
                }
                secret("credential.value", value)?;
                if !value.is_ascii() {
                    return Err(GatewayError::invalid(
                        "credential.value",
                        "a header value must be ASCII",
                    ));
                }
                Ok(())
            }
            Self::Bearer { token } => {
                secret("credential.token", token)?;
                if !token.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(GatewayError::invalid(
                        "credential.token",
                        "must be visible ASCII characters",
                    ));
                }
                Ok(())
            }
            Self::Basic { username, password } => {
                if username.is_empty() || username.len() > 256 || username.contains(':') {
                    return Err(GatewayError::invalid(
                        "credential.username",
                        "must be 1 to 256 characters without `:`",
                    ));
                }
                if username.chars().any(|c| c.is_control()) {
                    return Err(GatewayError::invalid(
                        "credential.username",
                        "must not hold control characters",
                    ));
                }
                secret("credential.password", password)
            }
            Self::Query { name, value } => {
                if name.is_empty()
                    || name.len() > 128
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
                {
                    return Err(GatewayError::invalid(
                        "credential.name",
                        "must be a parameter name of letters, digits, `-`, `_`, `.` and `~`",
                    ));
                }
                secret("credential.value", value)
            }
        }
    }
}

/// Shortest secret accepted (a shorter one could not be told apart from ordinary text in an
/// answer, so it could not be kept out of answers).
pub const MIN_SECRET: usize = 8;

/// An API distribution's upstream, as configured (the credential opened).
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The API distribution.
    pub distribution_id: DistributionId,
    /// Where calls go: `{base_url}/{path}`.
    pub base_url: reqwest::Url,
    /// What PDX presents there.
    pub credential: Credential,
    /// When the credential was last entered.
    pub credential_set_at: Option<Timestamp>,
    /// Methods allowed.
    pub methods: Vec<String>,
    /// Paths allowed.
    pub paths: Vec<PathRule>,
    /// How long the upstream may take to begin its answer, and between two parts of it.
    pub timeout_ms: u32,
    /// Calls it serves at once.
    pub max_concurrency: u32,
    /// When the configuration last changed.
    pub updated_at: Timestamp,
}

/// What a publisher declares about an upstream.
#[derive(Debug, Clone)]
pub struct UpstreamInput {
    /// The base URL.
    pub base_url: String,
    /// A new credential; none keeps the one entered before (none at first).
    pub credential: Option<Credential>,
    /// Methods allowed (default `GET`, `HEAD`).
    pub methods: Option<Vec<String>>,
    /// Path patterns allowed (default `/**`, everything below the base).
    pub paths: Option<Vec<String>>,
    /// Milliseconds the upstream may take (default 10,000).
    pub timeout_ms: Option<u32>,
    /// Calls at once (default 16).
    pub max_concurrency: Option<u32>,
}

/// Checks a base URL: `http` or `https`, a host, no user, query or fragment; a host inside a
/// private network only where the installation allows it.
pub fn base_url(value: &str, allow_private: bool) -> Result<reqwest::Url, GatewayError> {
    let field = "base_url";
    if value.len() > MAX_URL {
        return Err(GatewayError::invalid(
            field,
            format!("must be at most {MAX_URL} characters"),
        ));
    }
    let url = reqwest::Url::parse(value.trim())
        .map_err(|e| GatewayError::invalid(field, format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(GatewayError::invalid(field, "must be an http or https URL"));
    }
    if url.host().is_none() {
        return Err(GatewayError::invalid(field, "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(GatewayError::invalid(
            field,
            "must not carry a user or password: enter them as the credential",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(GatewayError::invalid(
            field,
            "must not carry a query or fragment: a query credential is entered as the credential",
        ));
    }
    if !allow_private && !public_host(&url) {
        return Err(GatewayError::invalid(
            field,
            "points into a private network, which this installation does not allow",
        ));
    }
    Ok(url)
}

/// Whether a URL's host may be reached from an installation that keeps its private networks to
/// itself: not a private, loopback or link-local address literal, nor `localhost`. (Names are
/// checked again after they are resolved.)
pub fn public_host(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => public_address(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => public_address(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name != "localhost" && !name.ends_with(".localhost")
        }
        None => false,
    }
}

/// Whether an address lies outside every private, loopback, link-local, shared, documentation
/// and multicast range.
pub fn public_address(ip: IpAddr) -> bool {
    static PRIVATE: std::sync::OnceLock<Vec<ipnet::IpNet>> = std::sync::OnceLock::new();
    let private = PRIVATE.get_or_init(|| {
        [
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.0.0.0/24",
            "192.0.2.0/24",
            "192.168.0.0/16",
            "198.18.0.0/15",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "224.0.0.0/3",
            "::/128",
            "::1/128",
            "::ffff:0:0/96",
            "64:ff9b::/96",
            "fc00::/7",
            "fe80::/10",
            "ff00::/8",
            "2001:db8::/32",
        ]
        .iter()
        .filter_map(|net| net.parse().ok())
        .collect()
    });
    // An IPv4-mapped IPv6 address is judged as the IPv4 address it maps.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    !private.iter().any(|net| net.contains(&ip))
}

/// Checks and normalises the methods allowed.
pub fn methods(values: Option<Vec<String>>) -> Result<Vec<String>, GatewayError> {
    let Some(values) = values else {
        return Ok(DEFAULT_METHODS.iter().map(|m| (*m).to_owned()).collect());
    };
    let mut methods = Vec::new();
    for value in values {
        let method = value.trim().to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(GatewayError::invalid(
                "methods",
                format!("`{value}` is not one of {}", METHODS.join(", ")),
            ));
        }
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    if methods.is_empty() {
        return Err(GatewayError::invalid("methods", "must allow at least one"));
    }
    Ok(methods)
}

/// Checks the path patterns allowed.
pub fn paths(values: Option<Vec<String>>) -> Result<Vec<PathRule>, GatewayError> {
    let values = values.unwrap_or_else(|| vec!["/**".to_owned()]);
    if values.is_empty() || values.len() > MAX_PATHS {
        return Err(GatewayError::invalid(
            "paths",
            format!("must hold 1 to {MAX_PATHS} patterns"),
        ));
    }
    values
        .iter()
        .map(|value| {
            PathRule::parse(value).map_err(|message| GatewayError::invalid("paths", message))
        })
        .collect()
}

/// Checks a number against its bounds, or takes the default.
pub fn bounded(
    field: &str,
    value: Option<u32>,
    bounds: std::ops::RangeInclusive<u32>,
    default: u32,
) -> Result<u32, GatewayError> {
    match value {
        None => Ok(default),
        Some(v) if bounds.contains(&v) => Ok(v),
        Some(_) => Err(GatewayError::invalid(
            field,
            format!("must be from {} to {}", bounds.start(), bounds.end()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        assert!(base_url("https://api.example.gov/v1", false).is_ok());
        for bad in [
            "ftp://example.gov",
            "https://user:pw@example.gov",
            "https://example.gov/?key=1",
            "https://example.gov/#x",
            "not a url",
        ] {
            assert!(base_url(bad, true).is_err(), "{bad}");
        }
        for private in [
            "http://127.0.0.1:8080",
            "http://localhost/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://192.168.1.1/",
        ] {
            assert!(base_url(private, false).is_err(), "{private}");
            assert!(base_url(private, true).is_ok(), "{private}");
        }
    }

    #[test]
    fn credentials_are_checked_and_never_printed() {
        let header = Credential::Header {
            name: "X-Api-Key".into(),
            value: "s3cr3t-value".into(),
        };
        assert!(header.validate().is_ok());
        assert!(!format!("{header:?}").contains("s3cr3t"));
        for bad in [
            Credential::Header {
                name: "Host".into(),
                value: "s3cr3t-value".into(),
            },
            Credential::Header {
                name: "X-PDX-Purpose".into(),
                value: "s3cr3t-value".into(),
            },
            Credential::Header {
                name: "X-Key".into(),
                value: "short".into(),
            },
            Credential::Header {
                name: "X-Key".into(),
                value: "line\r\nbreak".into(),
            },
            Credential::Basic {
                username: "a:b".into(),
                password: "long-enough".into(),
            },
            Credential::Query {
                name: "k y".into(),
                value: "long-enough".into(),
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let basic = Credential::Basic {
            username: "pdx".into(),
            password: "correct horse".into(),
        };
        let secrets = basic.secrets();
        assert!(secrets.contains(&b"correct horse".to_vec()));
        assert!(secrets.contains(&b"cGR4OmNvcnJlY3QgaG9yc2U=".to_vec()));
    }

    #[test]
    fn methods_default_to_reading() {
        assert_eq!(methods(None).ok(), Some(vec!["GET".into(), "HEAD".into()]));
        assert_eq!(
            methods(Some(vec!["get".into(), "POST".into(), "GET".into()])).ok(),
            Some(vec!["GET".into(), "POST".into()])
        );
        assert!(methods(Some(vec!["TRACE".into()])).is_err());
        assert!(methods(Some(vec![])).is_err());
    }
}

//! The id that ties one HTTP request to its log lines, its error body and its ledger entry.
//! A client may supply its own; anything unsafe to echo is replaced by a generated one.

use std::fmt;

/// Longest client-supplied request id that is accepted and echoed.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// A request id: either the client's (when it is safe to echo) or a generated UUID v7.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// Accepts a client-supplied id of 1 to 128 visible ASCII characters; anything else is refused
    /// so that log lines and response headers cannot be forged or broken by it.
    pub fn parse(candidate: &str) -> Option<Self> {
        let acceptable = !candidate.is_empty()
            && candidate.len() <= MAX_REQUEST_ID_LEN
            && candidate.bytes().all(|b| b.is_ascii_graphic());
        acceptable.then(|| Self(candidate.to_owned()))
    }

    /// The client's id if acceptable, otherwise a generated one.
    pub fn from_client_or_generate(candidate: Option<&str>) -> Self {
        candidate
            .and_then(Self::parse)
            .unwrap_or_else(Self::generate)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_visible_ascii_and_refuses_the_rest() {
        assert_eq!(
            RequestId::parse("abc-123").map(|r| r.0),
            Some("abc-123".into())
        );
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse("has space").is_none());
        assert!(RequestId::parse("line\nbreak").is_none());
        assert!(RequestId::parse("ünïcode").is_none());
        assert!(RequestId::parse(&"x".repeat(MAX_REQUEST_ID_LEN + 1)).is_none());
        assert!(RequestId::parse(&"x".repeat(MAX_REQUEST_ID_LEN)).is_some());
    }

    #[test]
    fn from_client_or_generate_replaces_an_unsafe_id() {
        let generated = RequestId::from_client_or_generate(Some("bad id"));
        assert_ne!(generated.as_str(), "bad id");
        assert!(uuid::Uuid::parse_str(generated.as_str()).is_ok());
    }
}

//! Ledger entries and their canonical bytes: deterministic JSON (keys sorted, no insignificant
//! whitespace), the exact leaf data of the Merkle tree. Decoding refuses unknown fields.

use pdx_core::Timestamp;
use serde::{Deserialize, Serialize};

use crate::merkle::{Hash, leaf_hash};

/// The kind of a data request's entry.
pub const DATA_ACCESS: &str = "data_access";
/// The kind of an idempotent retry's entry: served again under the first answer's receipt
/// (`detail.original_seq`), never counted towards quotas or fees.
pub const DATA_REPLAY: &str = "data_replay";
/// The kind of an API call's outcome, recorded after the gateway relayed (or failed to relay)
/// the upstream's answer to the call permitted by entry `detail.request_seq`: the upstream's
/// status, the bytes relayed and the latency. It counts towards no quota or fee.
pub const API_RESULT: &str = "api_result";

/// An entry's fields in sorted order, so serialising it writes the canonical bytes directly
/// (a test checks it against sorting a generic JSON value).
#[derive(Serialize)]
struct Sorted<'a> {
    actor_org: &'a Option<String>,
    actor_user: &'a Option<String>,
    bytes: u64,
    dataset: &'a Option<String>,
    decision: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<serde_json::Value>,
    distribution: &'a Option<String>,
    fee: u64,
    grant: &'a Option<String>,
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_org: &'a Option<String>,
    purpose: &'a Option<String>,
    reason: &'a str,
    request_id: &'a Option<String>,
    rows: u64,
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: &'a Option<String>,
    time: &'a str,
}

/// The value with every object's keys in sorted order, whatever order serde_json keeps maps in.
fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut fields: Vec<_> = map.into_iter().collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(fields.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

/// One recorded event of the circulation ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position in the ledger, from 0, contiguous.
    pub seq: u64,
    /// When it was recorded (RFC 3339, microseconds, UTC).
    pub time: String,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// `data_access`, or another auditable event's kind.
    pub kind: String,
    /// The acting user (none: anonymous).
    pub actor_user: Option<String>,
    /// The acting organisation (none: anonymous).
    pub actor_org: Option<String>,
    /// The dataset concerned.
    pub dataset: Option<String>,
    /// The distribution concerned.
    pub distribution: Option<String>,
    /// The grant relied on.
    pub grant: Option<String>,
    /// The organisation that published the dataset of a data request (its provider); absent
    /// from entries of other kinds and from data requests recorded before providers were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_org: Option<String>,
    /// The declared purpose.
    pub purpose: Option<String>,
    /// `permit` or `deny` for data access; `success` or `failure` for other events.
    pub decision: String,
    /// Why (the basis of a permit, the reason code of a denial).
    pub reason: String,
    /// Bytes served.
    pub bytes: u64,
    /// Rows served, when known.
    pub rows: u64,
    /// Fee charged, in fen.
    pub fee: u64,
    /// What an event other than data access was done to (an id or an e-mail address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Further facts of an event other than data access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl Entry {
    /// The canonical bytes: sorted keys, no whitespace.
    pub fn canonical(&self) -> Vec<u8> {
        let sorted = Sorted {
            actor_org: &self.actor_org,
            actor_user: &self.actor_user,
            bytes: self.bytes,
            dataset: &self.dataset,
            decision: &self.decision,
            detail: self.detail.clone().map(sorted),
            distribution: &self.distribution,
            fee: self.fee,
            grant: &self.grant,
            kind: &self.kind,
            provider_org: &self.provider_org,
            purpose: &self.purpose,
            reason: &self.reason,
            request_id: &self.request_id,
            rows: self.rows,
            seq: self.seq,
            subject: &self.subject,
            time: &self.time,
        };
        serde_json::to_vec(&sorted).unwrap_or_default()
    }

    /// A data-access entry with nothing filled in yet but its kind.
    pub fn data_access() -> Self {
        Self {
            seq: 0,
            time: String::new(),
            request_id: None,
            kind: DATA_ACCESS.to_owned(),
            actor_user: None,
            actor_org: None,
            dataset: None,
            distribution: None,
            grant: None,
            provider_org: None,
            purpose: None,
            decision: String::new(),
            reason: String::new(),
            bytes: 0,
            rows: 0,
            fee: 0,
            subject: None,
            detail: None,
        }
    }

    /// The Merkle leaf hash of the canonical bytes.
    pub fn leaf(&self) -> Hash {
        leaf_hash(&self.canonical())
    }

    /// Decodes canonical bytes, refusing unknown fields.
    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The recording time as stored.
    pub fn format_time(time: Timestamp) -> String {
        time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            seq: 7,
            time: "2026-07-01T12:00:00.000000Z".into(),
            request_id: Some("r1".into()),
            kind: "data_access".into(),
            actor_user: None,
            actor_org: Some("acme".into()),
            dataset: Some("d".into()),
            distribution: Some("x".into()),
            grant: None,
            provider_org: None,
            purpose: Some("research".into()),
            decision: "permit".into(),
            reason: "open".into(),
            bytes: 10240,
            rows: 0,
            fee: 0,
            subject: None,
            detail: None,
        }
    }

    #[test]
    fn event_details_are_canonical_too() {
        let mut event = entry();
        event.kind = "sign_in".into();
        event.subject = Some("clerk@example.gov".into());
        event.detail = Some(serde_json::json!({ "zeta": 1, "alpha": { "b": 2, "a": 1 } }));
        let text = String::from_utf8(event.canonical()).unwrap_or_default();
        assert!(
            text.contains(r#""detail":{"alpha":{"a":1,"b":2},"zeta":1}"#),
            "{text}"
        );
        assert_eq!(Entry::decode(text.as_bytes()).ok(), Some(event));
        assert!(
            !String::from_utf8(entry().canonical())
                .unwrap_or_default()
                .contains("detail"),
            "absent event fields are left out of data-access entries"
        );
    }

    #[test]
    fn canonical_bytes_sort_keys_without_whitespace_and_round_trip() {
        let bytes = entry().canonical();
        let text = String::from_utf8(bytes.clone()).unwrap_or_default();
        assert!(
            text.starts_with(r#"{"actor_org":"acme","actor_user":null,"bytes":10240,"#),
            "{text}"
        );
        assert!(!text.contains(' ') && !text.contains('\n'));
        assert_eq!(Entry::decode(&bytes).ok(), Some(entry()));
    }

    #[test]
    fn canonical_bytes_equal_a_generically_sorted_serialisation() {
        let generic = |e: &Entry| {
            serde_json::to_value(e)
                .map(sorted)
                .and_then(|v| serde_json::to_vec(&v))
                .unwrap_or_default()
        };
        let mut event = entry();
        assert_eq!(event.canonical(), generic(&event));
        event.subject = Some("s".into());
        event.detail = Some(serde_json::json!({ "b": [{ "z": 1, "a": 2 }], "a": null }));
        assert_eq!(event.canonical(), generic(&event));
        event.provider_org = Some("agency".into());
        assert_eq!(event.canonical(), generic(&event));
    }

    #[test]
    fn decoding_refuses_unknown_fields() {
        let mut value = serde_json::to_value(entry()).unwrap_or_default();
        value["extra"] = serde_json::json!(1);
        assert!(Entry::decode(value.to_string().as_bytes()).is_err());
    }
}

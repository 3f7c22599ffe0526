//! The records of licensing: offers, access requests and grants, with their lifecycles.

use std::fmt;

use pdx_core::{
    AccessRequestId, DatasetId, DistributionId, GrantId, OrganizationId, Timestamp, UserId,
};
use pdx_rows::mask::ColumnRules;
use serde::Serialize;

/// The purposes a request may declare (a controlled vocabulary).
pub const PURPOSES: &[&str] = &[
    "research",
    "public_service",
    "product_development",
    "education",
    "journalism",
    "statistics",
];

/// What a dataset's owning agency offers to requesters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offer {
    /// The dataset.
    pub dataset_id: DatasetId,
    /// The licence grants are made under.
    pub licence_id: String,
    /// Purposes that may be requested.
    pub purposes: Vec<String>,
    /// Longest term a grant may have, in days.
    pub max_term_days: i32,
    /// Default request quota of a grant.
    pub max_requests: Option<i64>,
    /// Default byte quota of a grant.
    pub max_bytes: Option<i64>,
    /// Default row quota of a grant.
    pub max_rows: Option<i64>,
    /// Fee per request, in fen (CNY minor units).
    pub fee_per_request: i64,
    /// Fee per megabyte, in fen.
    pub fee_per_mb: i64,
    /// Last changed.
    pub updated_at: Timestamp,
    /// The column rules of grants issued under it (none: every column not marked sensitive).
    pub column_rules: Option<ColumnRules>,
}

/// Where an access request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Awaiting a decision.
    Submitted,
    /// Granted.
    Approved,
    /// Refused, with a reason.
    Rejected,
    /// Taken back by the requester.
    Withdrawn,
}

impl RequestStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Submitted,
            Self::Approved,
            Self::Rejected,
            Self::Withdrawn,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    /// Only a submitted request can be decided or withdrawn.
    pub fn can_move_to(self, to: Self) -> bool {
        self == Self::Submitted && to != Self::Submitted
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request for access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessRequest {
    /// Its id.
    pub id: AccessRequestId,
    /// The dataset.
    pub dataset_id: DatasetId,
    /// The requesting organisation.
    pub organization_id: OrganizationId,
    /// The requesting user.
    pub user_id: UserId,
    /// The declared purpose.
    pub purpose: String,
    /// What the data is for, in the requester's words.
    pub statement: String,
    /// The term asked for, in days.
    pub term_days: i32,
    /// Where it stands.
    pub status: RequestStatus,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<Timestamp>,
    /// Why (rejections) or how (approvals).
    pub decision_reason: Option<String>,
    /// The grant made, if approved.
    pub grant_id: Option<GrantId>,
    /// When it was submitted.
    pub created_at: Timestamp,
    /// The distributions asked for (empty: all of the dataset's).
    pub distributions: Vec<DistributionId>,
}

/// The stored state of a grant (expiry is derived from the clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    /// In force.
    Active,
    /// Paused by the owning agency.
    Suspended,
    /// Ended by the owning agency; final.
    Revoked,
}

impl GrantState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Active, Self::Suspended, Self::Revoked]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// A grant's status as of an instant: `expired` takes effect the moment `valid_until` passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// In force.
    Active,
    /// Paused.
    Suspended,
    /// Ended by the owner; final.
    Revoked,
    /// Past its term; final.
    Expired,
}

impl GrantStatus {
    /// The status name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

/// A grant: the agreement under which an organisation obtains a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// Its id.
    pub id: GrantId,
    /// The dataset.
    pub dataset_id: DatasetId,
    /// The consumer organisation.
    pub organization_id: OrganizationId,
    /// The licence.
    pub licence_id: String,
    /// The request it answers (none for automatic grants made without one).
    pub request_id: Option<AccessRequestId>,
    /// In force from.
    pub valid_from: Timestamp,
    /// In force until (exclusive).
    pub valid_until: Timestamp,
    /// Purposes allowed.
    pub purposes: Vec<String>,
    /// Request quota.
    pub max_requests: Option<i64>,
    /// Byte quota.
    pub max_bytes: Option<i64>,
    /// Row quota.
    pub max_rows: Option<i64>,
    /// Fee per request, in fen.
    pub fee_per_request: i64,
    /// Fee per megabyte, in fen.
    pub fee_per_mb: i64,
    /// Stored state.
    pub state: GrantState,
    /// Why it was last suspended or revoked.
    pub status_reason: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// The distributions covered (empty: all of the dataset's).
    pub distributions: Vec<DistributionId>,
    /// Which columns row queries deliver and how others are masked (none: every column not
    /// marked sensitive).
    pub column_rules: Option<ColumnRules>,
}

impl Grant {
    /// Whether the grant covers this distribution.
    pub fn covers(&self, distribution: DistributionId) -> bool {
        self.distributions.is_empty() || self.distributions.contains(&distribution)
    }

    /// The status at `now`: revoked and expired are final, expiry wins over suspension.
    pub fn status(&self, now: Timestamp) -> GrantStatus {
        match self.state {
            GrantState::Revoked => GrantStatus::Revoked,
            _ if now >= self.valid_until => GrantStatus::Expired,
            GrantState::Suspended => GrantStatus::Suspended,
            GrantState::Active => GrantStatus::Active,
        }
    }
}

impl From<&Grant> for pdx_circulation::anomalies::GrantTerms {
    fn from(grant: &Grant) -> Self {
        Self {
            grant: grant.id.to_string(),
            consumer: grant.organization_id.to_string(),
            max_requests: grant.max_requests.and_then(|m| u64::try_from(m).ok()),
            max_bytes: grant.max_bytes.and_then(|m| u64::try_from(m).ok()),
            valid_until: grant.valid_until,
        }
    }
}

/// Use of a grant so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GrantUsage {
    /// Requests permitted under it.
    pub requests: u64,
    /// Bytes served under it.
    pub bytes: u64,
    /// Rows served under it.
    pub rows: u64,
}

impl From<pdx_circulation::store::Usage> for GrantUsage {
    fn from(used: pdx_circulation::store::Usage) -> Self {
        Self {
            requests: used.requests,
            bytes: used.bytes,
            rows: used.rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_submitted_requests_move_and_never_back() {
        use RequestStatus::*;
        for from in [Submitted, Approved, Rejected, Withdrawn] {
            for to in [Submitted, Approved, Rejected, Withdrawn] {
                assert_eq!(
                    from.can_move_to(to),
                    from == Submitted && to != Submitted,
                    "{from} -> {to}"
                );
            }
        }
    }
}

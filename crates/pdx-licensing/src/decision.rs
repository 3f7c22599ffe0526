//! The one answer to "may this principal obtain this distribution now, for this purpose?":
//! a pure function of the facts (classification, who asks, their grants and usage, the clock)
//! returning permit with its basis, or deny with a stable reason code for the ledger.

use pdx_core::{
    Classification, DistributionId, GrantId, OpeningClass, OrgKind, OrganizationId, Principal,
    SharingClass, Timestamp,
};
use serde::Serialize;

use crate::model::{Grant, GrantStatus, GrantUsage};
use crate::policy::{self, Action, PolicyRequest, Usage};

/// Why a request for data may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "basis", rename_all = "snake_case")]
pub enum Basis {
    /// The data is open to everyone.
    Open,
    /// The requester is the publishing agency.
    Owner,
    /// A grant allows it.
    Grant {
        /// Which grant.
        grant: GrantId,
    },
}

/// Why a request for data is refused; each is a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// The dataset is not in the published catalog.
    NotPublished,
    /// The data is not open and the request is anonymous.
    AuthenticationRequired,
    /// The classification forbids this kind of requester outright.
    ClassificationForbids,
    /// The requesting enterprise is not verified yet.
    OrganizationNotVerified,
    /// No grant covers the dataset.
    NoGrant,
    /// The grant has not begun.
    GrantNotYetValid,
    /// The grant has expired.
    GrantExpired,
    /// The grant is suspended.
    GrantSuspended,
    /// The grant was revoked.
    GrantRevoked,
    /// No purpose was declared, and the grant needs one.
    PurposeRequired,
    /// The declared purpose is not one the grant allows.
    PurposeNotAllowed,
    /// A quota of the grant is used up.
    QuotaExhausted,
    /// The licence's policy denies it.
    PolicyDenied,
    /// The grant covers other distributions of the dataset, not this one.
    DistributionNotCovered,
}

impl DenyReason {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotPublished => "not_published",
            Self::AuthenticationRequired => "authentication_required",
            Self::ClassificationForbids => "classification_forbids",
            Self::OrganizationNotVerified => "organization_not_verified",
            Self::NoGrant => "no_grant",
            Self::GrantNotYetValid => "grant_not_yet_valid",
            Self::GrantExpired => "grant_expired",
            Self::GrantSuspended => "grant_suspended",
            Self::GrantRevoked => "grant_revoked",
            Self::PurposeRequired => "purpose_required",
            Self::PurposeNotAllowed => "purpose_not_allowed",
            Self::QuotaExhausted => "quota_exhausted",
            Self::PolicyDenied => "policy_denied",
            Self::DistributionNotCovered => "distribution_not_covered",
        }
    }
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum AccessDecision {
    /// Allowed, and on what basis.
    Permit(Basis),
    /// Refused, and why.
    Deny(DenyReason),
}

/// Who is asking, as the decision needs to know them.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// The principal (none: anonymous).
    pub principal: Option<&'a Principal>,
    /// Whether their organisation is verified.
    pub verified: bool,
}

/// A grant with its usage so far and its licence's policy.
#[derive(Debug, Clone)]
pub struct GrantFacts {
    /// The grant.
    pub grant: Grant,
    /// Its usage so far.
    pub usage: GrantUsage,
    /// Its licence's stored policy document.
    pub policy: serde_json::Value,
}

/// Everything the decision depends on.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// Who asks.
    pub requester: Requester<'a>,
    /// The publishing agency.
    pub owner: OrganizationId,
    /// Whether the distribution is in the published catalog: its dataset is published and a
    /// published version holds it (not only a pending revision). The classification is the
    /// published version's, whatever a pending revision says.
    pub published: bool,
    /// Its classification.
    pub classification: Classification,
    /// The requester organisation's grants for this dataset.
    pub grants: &'a [GrantFacts],
    /// The distribution asked for.
    pub distribution: DistributionId,
    /// The declared purpose.
    pub purpose: Option<&'a str>,
    /// The bytes the request would be served (the file, or the range asked for); a byte quota
    /// is checked against them before anything is served.
    pub bytes: u64,
    /// For a row query, the rows its answer holds (a row quota is checked against them, and
    /// the policy is asked about `query` instead of `download`); none for a file.
    pub rows: Option<u64>,
    /// Now.
    pub now: Timestamp,
}

/// Whether an organisation of this kind can ever be granted data of this classification;
/// the reason when it cannot. Access requests are refused up front by the same rule.
pub fn requestable(classification: Classification, kind: OrgKind) -> Result<(), DenyReason> {
    let allowed = match kind {
        OrgKind::Agency => classification.sharing != SharingClass::None,
        OrgKind::Enterprise => classification.opening != OpeningClass::Closed,
        OrgKind::Platform => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(DenyReason::ClassificationForbids)
    }
}

/// Whether a request under this classification is granted without review.
pub fn granted_automatically(classification: Classification, kind: OrgKind) -> bool {
    kind == OrgKind::Agency && classification.sharing == SharingClass::Unconditional
}

/// Decides one data request.
pub fn decide(facts: &Facts<'_>) -> AccessDecision {
    let principal = facts.requester.principal;
    if principal.is_some_and(|p| p.org == facts.owner) {
        return AccessDecision::Permit(Basis::Owner);
    }
    if !facts.published {
        return AccessDecision::Deny(DenyReason::NotPublished);
    }
    if facts.classification.opening == OpeningClass::Open {
        return AccessDecision::Permit(Basis::Open);
    }
    let Some(principal) = principal else {
        return AccessDecision::Deny(DenyReason::AuthenticationRequired);
    };
    if let Err(reason) = requestable(facts.classification, principal.org_kind) {
        return AccessDecision::Deny(reason);
    }
    if !facts.requester.verified {
        return AccessDecision::Deny(DenyReason::OrganizationNotVerified);
    }
    // The most recent grant's refusal is the one reported when none permits.
    let mut refusal = DenyReason::NoGrant;
    let mut newest: Option<Timestamp> = None;
    for facts_of in facts
        .grants
        .iter()
        .filter(|g| g.grant.organization_id == principal.org)
    {
        match check_grant(facts_of, principal, facts) {
            Ok(()) => {
                return AccessDecision::Permit(Basis::Grant {
                    grant: facts_of.grant.id,
                });
            }
            Err(reason) => {
                if newest.is_none_or(|n| facts_of.grant.created_at > n) {
                    newest = Some(facts_of.grant.created_at);
                    refusal = reason;
                }
            }
        }
    }
    AccessDecision::Deny(refusal)
}

fn check_grant(
    facts: &GrantFacts,
    principal: &Principal,
    request: &Facts<'_>,
) -> Result<(), DenyReason> {
    let (distribution, purpose, now) = (request.distribution, request.purpose, request.now);
    let grant = &facts.grant;
    match grant.status(now) {
        GrantStatus::Revoked => return Err(DenyReason::GrantRevoked),
        GrantStatus::Expired => return Err(DenyReason::GrantExpired),
        GrantStatus::Suspended => return Err(DenyReason::GrantSuspended),
        GrantStatus::Active => {}
    }
    if now < grant.valid_from {
        return Err(DenyReason::GrantNotYetValid);
    }
    if !grant.covers(distribution) {
        return Err(DenyReason::DistributionNotCovered);
    }
    let Some(purpose) = purpose else {
        return Err(DenyReason::PurposeRequired);
    };
    if !grant.purposes.iter().any(|allowed| allowed == purpose) {
        return Err(DenyReason::PurposeNotAllowed);
    }
    if quota_exceeded(facts, request.bytes, request.rows.unwrap_or(0)) {
        return Err(DenyReason::QuotaExhausted);
    }
    let request = PolicyRequest {
        action: if request.rows.is_some() {
            Action::Query
        } else {
            Action::Download
        },
        purpose: Some(purpose.to_owned()),
        recipient: principal.org.to_string(),
    };
    let usage = Usage {
        requests: facts.usage.requests,
        since: grant.valid_from,
    };
    if policy::evaluate_stored(&facts.policy, &request, now, usage).is_permit() {
        Ok(())
    } else {
        Err(DenyReason::PolicyDenied)
    }
}

/// Whether serving `bytes` and `rows` more under this grant would pass one of its quotas: a
/// request is one more request, and its bytes and rows must fit in what is left (a request for
/// none, such as an idempotent retry, still needs some left).
pub fn quota_exceeded(facts: &GrantFacts, bytes: u64, rows: u64) -> bool {
    let grant = &facts.grant;
    let over = |used: u64, more: u64, limit: Option<i64>| {
        limit.is_some_and(|l| {
            let limit = u64::try_from(l).unwrap_or(0);
            used.saturating_add(more.max(1)) > limit
        })
    };
    over(facts.usage.requests, 1, grant.max_requests)
        || over(facts.usage.bytes, bytes, grant.max_bytes)
        || over(facts.usage.rows, rows, grant.max_rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GrantState;
    use chrono::{Duration, TimeZone, Utc};
    use pdx_core::{DataGrade, DatasetId, Role, UserId};

    fn now() -> Timestamp {
        match Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).single() {
            Some(t) => t,
            None => panic!("valid time"),
        }
    }

    fn principal(kind: OrgKind) -> Principal {
        Principal {
            user: UserId::new(),
            org: OrganizationId::new(),
            org_kind: kind,
            roles: [Role::Member].into_iter().collect(),
            token_id: "t".into(),
            api_key: None,
        }
    }

    fn grant(org: OrganizationId, state: GrantState) -> GrantFacts {
        GrantFacts {
            grant: Grant {
                id: GrantId::new(),
                dataset_id: DatasetId::new(),
                organization_id: org,
                licence_id: "dev-use".into(),
                request_id: None,
                valid_from: now() - Duration::days(1),
                valid_until: now() + Duration::days(30),
                purposes: vec!["research".into()],
                max_requests: Some(10),
                max_bytes: None,
                max_rows: None,
                fee_per_request: 0,
                fee_per_mb: 0,
                state,
                status_reason: None,
                created_at: now() - Duration::days(1),
                updated_at: now() - Duration::days(1),
                distributions: Vec::new(),
                column_rules: None,
            },
            usage: GrantUsage::default(),
            policy: serde_json::json!({ "permissions": [{ "action": "use" }] }),
        }
    }

    fn facts<'a>(
        p: Option<&'a Principal>,
        c: Classification,
        grants: &'a [GrantFacts],
    ) -> Facts<'a> {
        Facts {
            requester: Requester {
                principal: p,
                verified: true,
            },
            owner: OrganizationId::new(),
            published: true,
            classification: c,
            grants,
            distribution: DistributionId::new(),
            purpose: Some("research"),
            bytes: 0,
            rows: None,
            now: now(),
        }
    }

    fn all_classifications() -> Vec<Classification> {
        let mut all = Vec::new();
        for &sharing in SharingClass::ALL {
            for &opening in OpeningClass::ALL {
                for &grade in DataGrade::ALL {
                    all.push(Classification {
                        sharing,
                        opening,
                        grade,
                    });
                }
            }
        }
        all
    }

    #[test]
    fn closed_or_core_data_never_reaches_an_enterprise_whatever_grants_it_holds() {
        // Every classification that can be saved (core implies closed, and so on).
        let valid: Vec<Classification> = all_classifications()
            .into_iter()
            .filter(|c| c.check(true).is_ok())
            .collect();
        assert_eq!(valid.len(), 9 + 6 + 2);
        for classification in valid {
            for kind in [OrgKind::Enterprise, OrgKind::Agency, OrgKind::Platform] {
                let p = principal(kind);
                let grants = [grant(p.org, GrantState::Active)];
                let decision = decide(&facts(Some(&p), classification, &grants));
                let permitted = matches!(decision, AccessDecision::Permit(_));
                let expected = classification.opening == OpeningClass::Open
                    || match kind {
                        OrgKind::Enterprise => classification.opening != OpeningClass::Closed,
                        OrgKind::Agency => classification.sharing != SharingClass::None,
                        OrgKind::Platform => false,
                    };
                assert_eq!(
                    permitted, expected,
                    "{kind:?} {classification:?}: {decision:?}"
                );
                if kind == OrgKind::Enterprise
                    && (classification.opening == OpeningClass::Closed
                        || classification.grade == DataGrade::Core)
                {
                    assert!(!permitted, "{classification:?} reached an enterprise");
                    assert!(
                        requestable(classification, kind).is_err(),
                        "{classification:?} is requestable"
                    );
                }
            }
        }
    }

    #[test]
    fn open_data_is_permitted_to_anyone_and_the_owner_always() {
        let open = Classification {
            sharing: SharingClass::Unconditional,
            opening: OpeningClass::Open,
            grade: DataGrade::General,
        };
        assert_eq!(
            decide(&facts(None, open, &[])),
            AccessDecision::Permit(Basis::Open)
        );
        let core = Classification {
            sharing: SharingClass::None,
            opening: OpeningClass::Closed,
            grade: DataGrade::Core,
        };
        let owner = principal(OrgKind::Agency);
        let mut f = facts(Some(&owner), core, &[]);
        f.owner = owner.org;
        f.published = false;
        assert_eq!(decide(&f), AccessDecision::Permit(Basis::Owner));
        assert_eq!(
            decide(&facts(None, core, &[])),
            AccessDecision::Deny(DenyReason::AuthenticationRequired)
        );
    }

    #[test]
    fn every_denial_reason_is_reachable() {
        let conditional = Classification {
            sharing: SharingClass::Conditional,
            opening: OpeningClass::Conditional,
            grade: DataGrade::General,
        };
        let p = principal(OrgKind::Enterprise);
        let check = |grants: Vec<GrantFacts>,
                     purpose: Option<&str>,
                     verified: bool,
                     published: bool,
                     expected: DenyReason| {
            let mut f = facts(Some(&p), conditional, &grants);
            f.purpose = purpose;
            f.requester.verified = verified;
            f.published = published;
            assert_eq!(decide(&f), AccessDecision::Deny(expected));
        };
        check(
            vec![],
            Some("research"),
            true,
            false,
            DenyReason::NotPublished,
        );
        check(
            vec![],
            Some("research"),
            false,
            true,
            DenyReason::OrganizationNotVerified,
        );
        check(vec![], Some("research"), true, true, DenyReason::NoGrant);
        check(
            vec![grant(p.org, GrantState::Revoked)],
            Some("research"),
            true,
            true,
            DenyReason::GrantRevoked,
        );
        check(
            vec![grant(p.org, GrantState::Suspended)],
            Some("research"),
            true,
            true,
            DenyReason::GrantSuspended,
        );
        let mut expired = grant(p.org, GrantState::Active);
        expired.grant.valid_until = now();
        check(
            vec![expired],
            Some("research"),
            true,
            true,
            DenyReason::GrantExpired,
        );
        let mut future = grant(p.org, GrantState::Active);
        future.grant.valid_from = now() + Duration::seconds(1);
        check(
            vec![future],
            Some("research"),
            true,
            true,
            DenyReason::GrantNotYetValid,
        );
        check(
            vec![grant(p.org, GrantState::Active)],
            Some("marketing"),
            true,
            true,
            DenyReason::PurposeNotAllowed,
        );
        check(
            vec![grant(p.org, GrantState::Active)],
            None,
            true,
            true,
            DenyReason::PurposeRequired,
        );
        let mut used = grant(p.org, GrantState::Active);
        used.usage.requests = 10;
        check(
            vec![used],
            Some("research"),
            true,
            true,
            DenyReason::QuotaExhausted,
        );
        let mut forbidding = grant(p.org, GrantState::Active);
        forbidding.policy = serde_json::json!({ "permissions": [{ "action": "read" }] });
        check(
            vec![forbidding],
            Some("research"),
            true,
            true,
            DenyReason::PolicyDenied,
        );
        let mut narrow = grant(p.org, GrantState::Active);
        narrow.grant.distributions = vec![DistributionId::new()];
        check(
            vec![narrow],
            Some("research"),
            true,
            true,
            DenyReason::DistributionNotCovered,
        );
        let other_org = grant(OrganizationId::new(), GrantState::Active);
        check(
            vec![other_org],
            Some("research"),
            true,
            true,
            DenyReason::NoGrant,
        );
        let mut nine = grant(p.org, GrantState::Active);
        nine.usage.requests = 9;
        let f = facts(Some(&p), conditional, std::slice::from_ref(&nine));
        assert!(
            matches!(decide(&f), AccessDecision::Permit(Basis::Grant { .. })),
            "the 10th request is within quota"
        );
    }

    #[test]
    fn byte_quota_refuses_a_request_that_would_pass_it() {
        let p = principal(OrgKind::Enterprise);
        let conditional = Classification {
            sharing: SharingClass::Conditional,
            opening: OpeningClass::Conditional,
            grade: DataGrade::General,
        };
        let mut limited = grant(p.org, GrantState::Active);
        limited.grant.max_requests = None;
        limited.grant.max_bytes = Some(10_000);
        limited.usage.bytes = 6_000;
        let grants = std::slice::from_ref(&limited);
        let decide_bytes = |bytes| {
            let mut f = facts(Some(&p), conditional, grants);
            f.bytes = bytes;
            decide(&f)
        };
        assert!(matches!(
            decide_bytes(4_000),
            AccessDecision::Permit(Basis::Grant { .. })
        ));
        assert_eq!(
            decide_bytes(4_001),
            AccessDecision::Deny(DenyReason::QuotaExhausted),
            "one byte beyond the quota"
        );
        limited.usage.bytes = 10_000;
        let grants = std::slice::from_ref(&limited);
        let mut f = facts(Some(&p), conditional, grants);
        f.bytes = 0;
        assert_eq!(
            decide(&f),
            AccessDecision::Deny(DenyReason::QuotaExhausted),
            "nothing is served once the quota is used up, not even no bytes"
        );
    }
}

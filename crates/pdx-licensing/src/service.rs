//! The licensing service the API calls: licences, offers, access requests with their review,
//! grants with their lifecycle, and the access decision — each behind its permission check.
//!
//! | check | who passes |
//! |---|---|
//! | `manage_licences` | platform admin |
//! | `manage_offer` | a publisher or admin of the dataset's owning agency |
//! | `manage_grants` (suspend, resume, revoke) | an admin of the dataset's owning agency |
//! | `review_requests` | a reviewer or admin of the dataset's owning agency |
//! | `request_access` | a member of a verified organisation other than the owner (not the platform) |
//! | `view_request`, `view_grant` | the requesting/consumer organisation, the owning agency, auditors, platform admins |

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use chrono::Duration;
use pdx_access::audit::{self, AuditKind, AuditRecord, RequestContext};
use pdx_catalog::model::{Dataset, DatasetStatus, Distribution};
use pdx_core::{
    AccessRequestId, Clock, DistributionId, GrantId, OpeningClass, OrgKind, Principal, Role,
};
use pdx_rows::mask::ColumnRules;
use pdx_storage::{Database, DbConnection};

use crate::decision::{self, AccessDecision, Basis, Facts, Requester};
use crate::error::LicensingError;
use crate::exchange::{
    Appended, CallOutcome, DataAnswer, DataRequest, ExchangeBatch, Submission, appender_failure,
    grant_facts,
};
use crate::model::{
    AccessRequest, Grant, GrantState, GrantStatus, GrantUsage, Offer, PURPOSES, RequestStatus,
};
use crate::policy::Policy;
use crate::store::{self, GrantScope};
use pdx_circulation::{Appender, AppenderOptions};

/// Longest term a request may ask for without an offer saying otherwise, in days.
const DEFAULT_MAX_TERM_DAYS: i32 = 365;

fn allow(passes: bool, check: &'static str) -> Result<(), LicensingError> {
    if passes {
        Ok(())
    } else {
        Err(LicensingError::Forbidden { check })
    }
}

fn owner_with(p: &Principal, dataset: &Dataset, roles: &[Role]) -> bool {
    p.org == dataset.organization_id && p.roles.contains_any(roles)
}

fn oversees(p: &Principal) -> bool {
    p.has(Role::Auditor) || p.has(Role::PlatformAdmin)
}

/// An offer as set by the owning agency.
#[derive(Debug, Clone)]
pub struct OfferInput {
    /// Licence id.
    pub licence_id: String,
    /// Purposes that may be requested.
    pub purposes: Vec<String>,
    /// Longest term, days.
    pub max_term_days: i32,
    /// Default request quota.
    pub max_requests: Option<i64>,
    /// Default byte quota.
    pub max_bytes: Option<i64>,
    /// Default row quota.
    pub max_rows: Option<i64>,
    /// Fee per request, fen.
    pub fee_per_request: i64,
    /// Fee per megabyte, fen.
    pub fee_per_mb: i64,
    /// Column rules of grants issued under the offer (none: every column not marked
    /// sensitive).
    pub column_rules: Option<ColumnRules>,
}

/// A request for access, as submitted.
#[derive(Debug, Clone)]
pub struct RequestInput {
    /// Dataset id or slug.
    pub dataset: String,
    /// The declared purpose.
    pub purpose: String,
    /// What the data is for.
    pub statement: String,
    /// Term asked, days.
    pub term_days: i32,
    /// Distributions wanted (empty: all).
    pub distributions: Vec<DistributionId>,
}

/// Terms a reviewer may tighten when approving.
#[derive(Debug, Clone, Default)]
pub struct Tightening {
    /// A shorter term, days.
    pub term_days: Option<i32>,
    /// A smaller request quota.
    pub max_requests: Option<i64>,
    /// A smaller byte quota.
    pub max_bytes: Option<i64>,
    /// A smaller row quota.
    pub max_rows: Option<i64>,
    /// This grant's column rules, instead of the offer's.
    pub column_rules: Option<ColumnRules>,
}

/// Licensing for one PDX installation.
#[derive(Debug, Clone)]
pub struct LicensingService {
    db: Database,
    clock: Arc<dyn Clock>,
    appender: Arc<OnceLock<Appender<ExchangeBatch>>>,
    appender_options: AppenderOptions,
    /// The facts of recent row pre-decisions (see [`LicensingService::decide_rows`]).
    pre_facts: Arc<PreFactCache>,
}

/// How long the facts of a row pre-decision are reused when they permit.
const PRE_FACTS_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// Pre-decision facts by requester organisation and distribution, with the catalog generation
/// and the moment they were read.
type PreFactCache = quick_cache::sync::Cache<
    (Option<pdx_core::OrganizationId>, DistributionId),
    (i64, std::time::Instant, Arc<PreFacts>),
>;

/// What a pre-decision reads: the distribution and its dataset, and the requester
/// organisation's verification and grants for it with their usage.
#[derive(Debug)]
struct PreFacts {
    distribution: Distribution,
    dataset: pdx_catalog::model::Dataset,
    verified: bool,
    grants: Vec<crate::decision::GrantFacts>,
}

impl PreFacts {
    fn read(
        conn: &mut DbConnection,
        org: Option<pdx_core::OrganizationId>,
        distribution: DistributionId,
    ) -> Result<Self, LicensingError> {
        let distribution = pdx_catalog::store::find_distribution(conn, distribution)?;
        let dataset = pdx_catalog::store::find_dataset(conn, &distribution.dataset_id.to_string())?;
        let (verified, grants) = match org {
            Some(org) => (
                pdx_access::store::find_organization(conn, org)?.verified,
                grant_facts(conn, &mut HashMap::new(), org, dataset.id)?,
            ),
            None => (false, Vec::new()),
        };
        Ok(Self {
            distribution,
            dataset,
            verified,
            grants,
        })
    }

    /// The decision on a request for rows (or for the whole file), and the grant relied on.
    fn decide(
        &self,
        principal: Option<&Principal>,
        purpose: Option<&str>,
        rows: Option<u64>,
        now: pdx_core::Timestamp,
    ) -> (AccessDecision, Option<Grant>) {
        let decision = decision::decide(&Facts {
            requester: Requester {
                principal,
                verified: principal.is_some() && self.verified,
            },
            owner: self.dataset.organization_id,
            published: pdx_catalog::permissions::in_published_catalog(
                &self.dataset,
                &self.distribution,
            ),
            classification: self.dataset.classification,
            grants: &self.grants,
            distribution: self.distribution.id,
            purpose,
            rows,
            // Asked about the whole file, or about rows.
            bytes: match rows {
                Some(_) => 0,
                None => self
                    .distribution
                    .byte_size
                    .and_then(|size| u64::try_from(size).ok())
                    .unwrap_or(0),
            },
            now,
        });
        let grant = match decision {
            AccessDecision::Permit(Basis::Grant { grant }) => self
                .grants
                .iter()
                .map(|g| &g.grant)
                .find(|g| g.id == grant)
                .cloned(),
            _ => None,
        };
        (decision, grant)
    }
}

impl LicensingService {
    /// Licensing over a database, with the appender's default batching.
    pub fn new(db: Database, clock: Arc<dyn Clock>) -> Self {
        Self::with_appender(db, clock, AppenderOptions::default())
    }

    /// Licensing over a database, with this batching of the data path's ledger appends.
    pub fn with_appender(db: Database, clock: Arc<dyn Clock>, options: AppenderOptions) -> Self {
        Self {
            db,
            clock,
            appender: Arc::new(OnceLock::new()),
            appender_options: options,
            pre_facts: Arc::new(PreFactCache::new(4_096)),
        }
    }

    async fn write<T, F>(&self, work: F) -> Result<T, LicensingError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, LicensingError> + Send + 'static,
    {
        self.db.write(work).await
    }

    async fn read<T, F>(&self, work: F) -> Result<T, LicensingError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, LicensingError> + Send + 'static,
    {
        self.db.run(work).await
    }

    /// The requests part of an agency's disclosure report: requests for `datasets` submitted
    /// in `[start, end)` and grants on them issued then.
    pub async fn disclosure(
        &self,
        datasets: Vec<String>,
        start: pdx_core::Timestamp,
        end: pdx_core::Timestamp,
    ) -> Result<crate::disclosure::RequestDisclosure, LicensingError> {
        self.read(move |conn| crate::disclosure::request_disclosure(conn, &datasets, start, end))
            .await
    }

    /// Creates a development-use licence with its policy (platform admins).
    pub async fn create_licence(
        &self,
        principal: &Principal,
        id: &str,
        title: &str,
        url: &str,
        policy: serde_json::Value,
        context: &RequestContext,
    ) -> Result<(), LicensingError> {
        allow(principal.has(Role::PlatformAdmin), "manage_licences")?;
        Policy::parse(&policy)?;
        let id = id.trim().to_owned();
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(LicensingError::invalid(
                "id",
                "must be 1-64 characters of letters, digits, '-' and '.'",
            ));
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(LicensingError::invalid("url", "must be an http(s) URL"));
        }
        let title = title.trim().to_owned();
        if title.is_empty() {
            return Err(LicensingError::invalid("title", "is required"));
        }
        let (now, url, context, actor) = (
            self.clock.now(),
            url.to_owned(),
            context.clone(),
            principal.clone(),
        );
        self.write(move |conn| {
            store::insert_licence(conn, &id, &title, &url, &policy, now)?;
            let event =
                AuditRecord::success(AuditKind::LicenceCreated, Some(actor.user), Some(actor.org))
                    .subject(&id);
            audit::record(conn, &event, &context, now)?;
            Ok(())
        })
        .await
    }

    /// A licence's policy document (ODRL JSON), as stored.
    pub async fn licence_document(&self, id: &str) -> Result<serde_json::Value, LicensingError> {
        let id = id.to_owned();
        self.read(move |conn| store::licence_policy(conn, &id))
            .await
    }

    /// A licence's policy, parsed.
    pub async fn licence_policy(&self, id: &str) -> Result<Policy, LicensingError> {
        let id = id.to_owned();
        let document = self
            .read(move |conn| store::licence_policy(conn, &id))
            .await?;
        Ok(Policy::parse(&document)?)
    }

    /// The offer of a dataset (public once the dataset is).
    pub async fn offer(
        &self,
        principal: Option<&Principal>,
        dataset: &str,
    ) -> Result<Option<Offer>, LicensingError> {
        let (principal, dataset) = (principal.cloned(), dataset.to_owned());
        self.read(move |conn| {
            let dataset = visible_dataset(conn, principal.as_ref(), &dataset)?;
            store::offer(conn, dataset.id)
        })
        .await
    }

    /// Sets a dataset's offer (publishers and admins of the owning agency).
    pub async fn put_offer(
        &self,
        principal: &Principal,
        dataset: &str,
        input: OfferInput,
        context: &RequestContext,
    ) -> Result<Offer, LicensingError> {
        let (principal, dataset, context, now) = (
            principal.clone(),
            dataset.to_owned(),
            context.clone(),
            self.clock.now(),
        );
        self.write(move |conn| {
            let dataset = visible_dataset(conn, Some(&principal), &dataset)?;
            allow(
                owner_with(&principal, &dataset, &[Role::Admin, Role::Publisher]),
                "manage_offer",
            )?;
            store::licence_policy(conn, &input.licence_id)
                .map_err(|_| LicensingError::invalid("licence_id", "is not a known licence"))?;
            let purposes = check_purposes(&input.purposes)?;
            if input.max_term_days < 1 || input.max_term_days > 3650 {
                return Err(LicensingError::invalid("max_term_days", "must be 1-3650"));
            }
            for (field, value) in [
                ("max_requests", input.max_requests),
                ("max_bytes", input.max_bytes),
                ("max_rows", input.max_rows),
            ] {
                if value.is_some_and(|v| v < 1) {
                    return Err(LicensingError::invalid(field, "must be positive"));
                }
            }
            if let Some(rules) = &input.column_rules {
                rules
                    .check()
                    .map_err(|message| LicensingError::invalid("column_rules", message))?;
            }
            if input.fee_per_request < 0 || input.fee_per_mb < 0 {
                return Err(LicensingError::invalid(
                    "fee_per_request",
                    "fees cannot be negative",
                ));
            }
            let offer = Offer {
                dataset_id: dataset.id,
                licence_id: input.licence_id,
                purposes,
                max_term_days: input.max_term_days,
                max_requests: input.max_requests,
                max_bytes: input.max_bytes,
                max_rows: input.max_rows,
                fee_per_request: input.fee_per_request,
                fee_per_mb: input.fee_per_mb,
                updated_at: now,
                column_rules: input.column_rules,
            };
            store::put_offer(conn, &offer)?;
            let event = AuditRecord::success(
                AuditKind::OfferSet,
                Some(principal.user),
                Some(principal.org),
            )
            .subject(dataset.id);
            audit::record(conn, &event, &context, now)?;
            Ok(offer)
        })
        .await
    }

    /// Submits a request for a dataset. Refused outright when the classification forbids the
    /// requester; granted at once between agencies for unconditionally shared data.
    pub async fn submit_request(
        &self,
        principal: &Principal,
        input: RequestInput,
        context: &RequestContext,
    ) -> Result<AccessRequest, LicensingError> {
        let RequestInput {
            dataset,
            purpose,
            statement,
            term_days,
            distributions,
        } = input;
        let (principal, dataset, context, now) = (
            principal.clone(),
            dataset.to_owned(),
            context.clone(),
            self.clock.now(),
        );
        let (purpose, statement) = (purpose.trim().to_owned(), statement.trim().to_owned());
        self.write(move |conn| {
            let dataset = visible_dataset(conn, Some(&principal), &dataset)?;
            if dataset.organization_id == principal.org || principal.org_kind == OrgKind::Platform {
                return Err(LicensingError::Forbidden {
                    check: "request_access",
                });
            }
            let organization = pdx_access::store::find_organization(conn, principal.org)?;
            if !organization.verified {
                return Err(LicensingError::OrganizationNotVerified);
            }
            if dataset.status != DatasetStatus::Published {
                return Err(LicensingError::invalid("dataset", "is not published"));
            }
            if dataset.classification.opening == OpeningClass::Open {
                return Err(LicensingError::invalid(
                    "dataset",
                    "is open data: it needs no request",
                ));
            }
            decision::requestable(dataset.classification, principal.org_kind).map_err(|_| {
                LicensingError::ClassificationForbids(match principal.org_kind {
                    OrgKind::Agency => "other agencies (sharing class `none`)",
                    _ => "enterprises (opening class `closed`)",
                })
            })?;
            if !distributions.is_empty() {
                let own: Vec<DistributionId> = pdx_catalog::store::published_distributions_of(
                    conn,
                    &[dataset.id.to_string()],
                )?
                .into_iter()
                .map(|d| d.id)
                .collect();
                if let Some(foreign) = distributions.iter().find(|d| !own.contains(d)) {
                    return Err(LicensingError::invalid(
                        "distributions",
                        format!("{foreign} is not a distribution of this dataset"),
                    ));
                }
            }
            let offer = store::offer(conn, dataset.id)?;
            let automatic =
                decision::granted_automatically(dataset.classification, principal.org_kind);
            if offer.is_none() && !automatic {
                return Err(LicensingError::invalid(
                    "dataset",
                    "the publishing agency has made no offer for it yet",
                ));
            }
            let allowed: Vec<String> = offer.as_ref().map_or_else(
                || PURPOSES.iter().map(|p| (*p).to_owned()).collect(),
                |o| o.purposes.clone(),
            );
            if !allowed.contains(&purpose) {
                return Err(LicensingError::invalid(
                    "purpose",
                    format!("must be one of {}", allowed.join(", ")),
                ));
            }
            if statement.chars().count() < 10 || statement.chars().count() > 5000 {
                return Err(LicensingError::invalid(
                    "statement",
                    "must say in 10-5000 characters what the data is for",
                ));
            }
            let max_term = offer
                .as_ref()
                .map_or(DEFAULT_MAX_TERM_DAYS, |o| o.max_term_days);
            if term_days < 1 || term_days > max_term {
                return Err(LicensingError::invalid(
                    "term_days",
                    format!("must be 1-{max_term}"),
                ));
            }
            let mut request = AccessRequest {
                id: AccessRequestId::new(),
                dataset_id: dataset.id,
                organization_id: principal.org,
                user_id: principal.user,
                purpose,
                statement,
                term_days,
                status: RequestStatus::Submitted,
                decided_by: None,
                decided_at: None,
                decision_reason: None,
                grant_id: None,
                created_at: now,
                distributions,
            };
            store::insert_request(conn, &request)?;
            let event = AuditRecord::success(
                AuditKind::AccessRequested,
                Some(principal.user),
                Some(principal.org),
            )
            .subject(request.id)
            .detail(serde_json::json!({ "dataset": dataset.id, "purpose": request.purpose }));
            audit::record(conn, &event, &context, now)?;
            if automatic {
                let grant = issue_grant(
                    conn,
                    &dataset,
                    &request,
                    offer.as_ref(),
                    &Tightening::default(),
                    now,
                )?;
                store::decide_request(
                    conn,
                    request.id,
                    RequestStatus::Approved,
                    "automatic",
                    Some("unconditional sharing between agencies"),
                    Some(grant.id),
                    now,
                )?;
                record_grant(conn, &grant, None, &context, now)?;
                request = store::find_request(conn, request.id)?;
            }
            Ok(request)
        })
        .await
    }

    /// Requests made by the principal's organisation, or (`queue`) those awaiting its agency.
    pub async fn requests(
        &self,
        principal: &Principal,
        queue: bool,
    ) -> Result<Vec<AccessRequest>, LicensingError> {
        if queue {
            allow(
                principal.roles.contains_any(&[Role::Reviewer, Role::Admin])
                    && principal.org_kind == OrgKind::Agency,
                "review_requests",
            )?;
        }
        let org = principal.org;
        self.read(move |conn| store::list_requests(conn, org, queue))
            .await
    }

    /// One request, if the principal may see it.
    pub async fn request(
        &self,
        principal: &Principal,
        id: AccessRequestId,
    ) -> Result<AccessRequest, LicensingError> {
        let principal = principal.clone();
        self.read(move |conn| {
            let request = store::find_request(conn, id)?;
            let dataset = pdx_catalog::store::find_dataset(conn, &request.dataset_id.to_string())?;
            let visible = request.organization_id == principal.org
                || dataset.organization_id == principal.org
                || oversees(&principal);
            if visible {
                Ok(request)
            } else {
                Err(LicensingError::RequestNotFound)
            }
        })
        .await
    }

    /// Approves a submitted request, optionally tightening the offer's terms, and issues the grant.
    pub async fn approve(
        &self,
        principal: &Principal,
        id: AccessRequestId,
        tightening: Tightening,
        context: &RequestContext,
    ) -> Result<(AccessRequest, Grant), LicensingError> {
        let (principal, context, now) = (principal.clone(), context.clone(), self.clock.now());
        self.write(move |conn| {
            let (request, dataset) = reviewable(conn, &principal, id)?;
            require_submitted(&request, "approve")?;
            let offer = store::offer(conn, dataset.id)?;
            let grant = issue_grant(conn, &dataset, &request, offer.as_ref(), &tightening, now)?;
            store::decide_request(
                conn,
                id,
                RequestStatus::Approved,
                &principal.user.to_string(),
                None,
                Some(grant.id),
                now,
            )?;
            let event = AuditRecord::success(
                AuditKind::AccessRequestApproved,
                Some(principal.user),
                Some(principal.org),
            )
            .subject(id);
            audit::record(conn, &event, &context, now)?;
            record_grant(conn, &grant, Some(&principal), &context, now)?;
            Ok((store::find_request(conn, id)?, grant))
        })
        .await
    }

    /// Rejects a submitted request with a reason.
    pub async fn reject(
        &self,
        principal: &Principal,
        id: AccessRequestId,
        reason: &str,
        context: &RequestContext,
    ) -> Result<AccessRequest, LicensingError> {
        let reason = reason.trim().to_owned();
        if reason.is_empty() {
            return Err(LicensingError::invalid(
                "reason",
                "a rejection needs a reason for the requester",
            ));
        }
        let (principal, context, now) = (principal.clone(), context.clone(), self.clock.now());
        self.write(move |conn| {
            let (request, _) = reviewable(conn, &principal, id)?;
            require_submitted(&request, "reject")?;
            store::decide_request(
                conn,
                id,
                RequestStatus::Rejected,
                &principal.user.to_string(),
                Some(&reason),
                None,
                now,
            )?;
            let event = AuditRecord::success(
                AuditKind::AccessRequestRejected,
                Some(principal.user),
                Some(principal.org),
            )
            .subject(id)
            .detail(serde_json::json!({ "reason": reason }));
            audit::record(conn, &event, &context, now)?;
            store::find_request(conn, id)
        })
        .await
    }

    /// Withdraws the principal's organisation's submitted request.
    pub async fn withdraw(
        &self,
        principal: &Principal,
        id: AccessRequestId,
        context: &RequestContext,
    ) -> Result<AccessRequest, LicensingError> {
        let (principal, context, now) = (principal.clone(), context.clone(), self.clock.now());
        self.write(move |conn| {
            let request = store::find_request(conn, id)?;
            if request.organization_id != principal.org {
                return Err(LicensingError::RequestNotFound);
            }
            require_submitted(&request, "withdraw")?;
            store::decide_request(
                conn,
                id,
                RequestStatus::Withdrawn,
                &principal.user.to_string(),
                None,
                None,
                now,
            )?;
            let event = AuditRecord::success(
                AuditKind::AccessRequestWithdrawn,
                Some(principal.user),
                Some(principal.org),
            )
            .subject(id);
            audit::record(conn, &event, &context, now)?;
            store::find_request(conn, id)
        })
        .await
    }

    /// The grants the principal may see: its organisation's, its agency's datasets', or all
    /// (auditors and platform admins).
    pub async fn grants(&self, principal: &Principal) -> Result<Vec<Grant>, LicensingError> {
        let scope = if oversees(principal) {
            GrantScope::All
        } else if principal.org_kind == OrgKind::Agency
            && principal.roles.contains_any(&[Role::Admin, Role::Reviewer])
        {
            GrantScope::Owner(principal.org)
        } else {
            GrantScope::Consumer(principal.org)
        };
        let mut grants = self
            .read(move |conn| store::list_grants(conn, scope, None))
            .await?;
        if let GrantScope::Owner(org) = scope {
            let own = self
                .read(move |conn| store::list_grants(conn, GrantScope::Consumer(org), None))
                .await?;
            grants.extend(own);
        }
        Ok(grants)
    }

    /// Usage so far of grants the caller may already see, counted from the ledger.
    pub async fn usage_of(&self, grants: Vec<GrantId>) -> Result<Vec<GrantUsage>, LicensingError> {
        self.read(move |conn| {
            grants
                .into_iter()
                .map(|id| Ok(pdx_circulation::store::grant_usage(conn, &id.to_string())?.into()))
                .collect()
        })
        .await
    }

    /// One grant, if the principal may see it.
    pub async fn grant(&self, principal: &Principal, id: GrantId) -> Result<Grant, LicensingError> {
        let principal = principal.clone();
        self.read(move |conn| {
            let grant = store::find_grant(conn, id)?;
            let dataset = pdx_catalog::store::find_dataset(conn, &grant.dataset_id.to_string())?;
            let visible = grant.organization_id == principal.org
                || dataset.organization_id == principal.org
                || oversees(&principal);
            if visible {
                Ok(grant)
            } else {
                Err(LicensingError::GrantNotFound)
            }
        })
        .await
    }

    /// Suspends, resumes or revokes a grant (admins of the owning agency). Revoked and expired
    /// grants are final.
    pub async fn change_grant(
        &self,
        principal: &Principal,
        id: GrantId,
        to: GrantState,
        reason: Option<String>,
        context: &RequestContext,
    ) -> Result<Grant, LicensingError> {
        let (principal, context, now) = (principal.clone(), context.clone(), self.clock.now());
        self.write(move |conn| {
            let grant = store::find_grant(conn, id)?;
            let dataset = pdx_catalog::store::find_dataset(conn, &grant.dataset_id.to_string())?;
            if dataset.organization_id != principal.org
                && grant.organization_id != principal.org
                && !oversees(&principal)
            {
                return Err(LicensingError::GrantNotFound);
            }
            allow(
                owner_with(&principal, &dataset, &[Role::Admin]),
                "manage_grants",
            )?;
            let status = grant.status(now);
            let (action, kind) = match to {
                GrantState::Suspended => ("suspend", AuditKind::GrantSuspended),
                GrantState::Active => ("resume", AuditKind::GrantResumed),
                GrantState::Revoked => ("revoke", AuditKind::GrantRevoked),
            };
            let allowed = matches!(
                (status, to),
                (
                    GrantStatus::Active,
                    GrantState::Suspended | GrantState::Revoked
                ) | (
                    GrantStatus::Suspended,
                    GrantState::Active | GrantState::Revoked
                )
            );
            if !allowed {
                return Err(LicensingError::IllegalTransition {
                    what: "a grant",
                    from: status.as_str().to_owned(),
                    action,
                });
            }
            store::set_grant_state(conn, id, to, reason.as_deref(), now)?;
            let event = AuditRecord::success(kind, Some(principal.user), Some(principal.org))
                .subject(id)
                .detail(serde_json::json!({ "reason": reason }));
            audit::record(conn, &event, &context, now)?;
            store::find_grant(conn, id)
        })
        .await
    }

    /// Records, once each, the expiry of grants whose term has passed. Expiry takes effect at
    /// the instant `valid_until` passes whether or not this has run; this keeps the audit trail.
    pub async fn record_expiries(&self) -> Result<usize, LicensingError> {
        let now = self.clock.now();
        self.write(move |conn| {
            let expired = store::unrecorded_expiries(conn, now)?;
            for grant in &expired {
                let event = AuditRecord::success(AuditKind::GrantExpired, None, Some(grant.organization_id))
                    .subject(grant.id)
                    .detail(serde_json::json!({ "valid_until": grant.valid_until, "dataset": grant.dataset_id }));
                audit::record(conn, &event, &RequestContext::default(), now)?;
                store::mark_expiry_recorded(conn, grant.id)?;
            }
            Ok(expired.len())
        })
        .await
    }

    /// May this principal obtain this distribution now, for this purpose? Usage of grants is
    /// counted from the circulation ledger.
    pub async fn decide(
        &self,
        principal: Option<&Principal>,
        distribution: DistributionId,
        purpose: Option<&str>,
    ) -> Result<AccessDecision, LicensingError> {
        let (principal, purpose, now) = (
            principal.cloned(),
            purpose.map(str::to_owned),
            self.clock.now(),
        );
        self.read(move |conn| {
            Ok(decide_in(
                conn,
                principal.as_ref(),
                distribution,
                purpose.as_deref(),
                None,
                now,
            )?
            .0)
        })
        .await
    }

    /// Whether this principal may query this distribution's rows now, for this purpose, and
    /// the grant it would rely on (whose column rules shape the answer). Not logged: the row
    /// query is decided again, and logged, when its answer is ready — so the facts a permit was
    /// decided on are reused for a second while the catalog generation (`catalog_generation`,
    /// as the caller read it) has not moved; the binding decision reads them afresh. A refusal
    /// is always decided on facts read now, so that a grant issued a moment ago counts.
    pub async fn decide_rows(
        &self,
        principal: Option<&Principal>,
        distribution: DistributionId,
        purpose: Option<&str>,
        catalog_generation: i64,
    ) -> Result<(AccessDecision, Option<Grant>), LicensingError> {
        let now = self.clock.now();
        let key = (principal.map(|p| p.org), distribution);
        if let Some((generation, read_at, facts)) = self.pre_facts.get(&key)
            && generation == catalog_generation
            && read_at.elapsed() < PRE_FACTS_FRESH
        {
            let decided = facts.decide(principal, purpose, Some(0), now);
            if matches!(decided.0, AccessDecision::Permit(_)) {
                return Ok(decided);
            }
        }
        let org = key.0;
        let read_at = std::time::Instant::now();
        let facts = Arc::new(
            self.read(move |conn| PreFacts::read(conn, org, distribution))
                .await?,
        );
        self.pre_facts
            .insert(key, (catalog_generation, read_at, Arc::clone(&facts)));
        Ok(facts.decide(principal, purpose, Some(0), now))
    }

    /// The authorise-meter-log step of a data request, through the ledger's group-commit
    /// appender: decided with grant usage read under the ledger lock, and appended (permit or
    /// deny, with its reason) in the batch's transaction, so quotas cannot overshoot and
    /// nothing is served unless its entry is committed. The answer carries the receipt.
    pub async fn obtain(&self, request: DataRequest) -> Result<DataAnswer, LicensingError> {
        match self.append(Submission::Request(request)).await? {
            Appended::Answer(answer) => Ok(*answer),
            Appended::Outcome(_) => Err(LicensingError::Storage(pdx_storage::StorageError::Task(
                "the appender answered a request with an outcome".into(),
            ))),
        }
    }

    /// Records what became of a call the gateway forwarded, as an `api_result` entry appended
    /// by the data path's appender. Returns its sequence number.
    pub async fn record_call(&self, outcome: CallOutcome) -> Result<u64, LicensingError> {
        match self.append(Submission::Outcome(outcome)).await? {
            Appended::Outcome(seq) => Ok(seq),
            Appended::Answer(_) => Err(LicensingError::Storage(pdx_storage::StorageError::Task(
                "the appender answered an outcome with a decision".into(),
            ))),
        }
    }

    async fn append(&self, submission: Submission) -> Result<Appended, LicensingError> {
        let appender = self.appender.get_or_init(|| {
            Appender::start(
                self.db.clone(),
                ExchangeBatch::new(Arc::clone(&self.clock)),
                self.appender_options,
            )
        });
        appender.submit(submission).await.map_err(appender_failure)
    }
}

fn check_purposes(purposes: &[String]) -> Result<Vec<String>, LicensingError> {
    let mut out: Vec<String> = Vec::new();
    for purpose in purposes {
        let purpose = purpose.trim().to_owned();
        if !PURPOSES.contains(&purpose.as_str()) {
            return Err(LicensingError::invalid(
                "purposes",
                format!("`{purpose}` is not one of {}", PURPOSES.join(", ")),
            ));
        }
        if !out.contains(&purpose) {
            out.push(purpose);
        }
    }
    if out.is_empty() {
        return Err(LicensingError::invalid(
            "purposes",
            "at least one purpose is required",
        ));
    }
    Ok(out)
}

fn visible_dataset(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    id: &str,
) -> Result<Dataset, LicensingError> {
    let dataset = pdx_catalog::store::find_dataset(conn, id)?;
    pdx_catalog::permissions::view_dataset(principal, &dataset)
        .map_err(|_| pdx_catalog::CatalogError::DatasetNotFound)?;
    Ok(dataset)
}

fn reviewable(
    conn: &mut DbConnection,
    principal: &Principal,
    id: AccessRequestId,
) -> Result<(AccessRequest, Dataset), LicensingError> {
    let request = store::find_request(conn, id)?;
    let dataset = pdx_catalog::store::find_dataset(conn, &request.dataset_id.to_string())?;
    if dataset.organization_id != principal.org
        && request.organization_id != principal.org
        && !oversees(principal)
    {
        return Err(LicensingError::RequestNotFound);
    }
    allow(
        owner_with(principal, &dataset, &[Role::Reviewer, Role::Admin]),
        "review_requests",
    )?;
    Ok((request, dataset))
}

fn require_submitted(request: &AccessRequest, action: &'static str) -> Result<(), LicensingError> {
    if request.status == RequestStatus::Submitted {
        Ok(())
    } else {
        Err(LicensingError::IllegalTransition {
            what: "a request",
            from: request.status.as_str().to_owned(),
            action,
        })
    }
}

fn tighter(offered: Option<i64>, asked: Option<i64>) -> Option<i64> {
    match (offered, asked) {
        (Some(o), Some(a)) => Some(o.min(a)),
        (o, a) => o.or(a),
    }
}

fn issue_grant(
    conn: &mut DbConnection,
    dataset: &Dataset,
    request: &AccessRequest,
    offer: Option<&Offer>,
    tightening: &Tightening,
    now: pdx_core::Timestamp,
) -> Result<Grant, LicensingError> {
    let term = tightening
        .term_days
        .map_or(request.term_days, |t| t.min(request.term_days));
    if term < 1 {
        return Err(LicensingError::invalid("term_days", "must be at least 1"));
    }
    let licence_id = match offer {
        Some(offer) => offer.licence_id.clone(),
        None => dataset
            .licence
            .clone()
            .unwrap_or_else(|| "CC-BY-4.0".to_owned()),
    };
    let grant = Grant {
        id: GrantId::new(),
        dataset_id: dataset.id,
        organization_id: request.organization_id,
        licence_id,
        request_id: Some(request.id),
        valid_from: now,
        valid_until: now + Duration::days(i64::from(term)),
        purposes: vec![request.purpose.clone()],
        max_requests: tighter(offer.and_then(|o| o.max_requests), tightening.max_requests),
        max_bytes: tighter(offer.and_then(|o| o.max_bytes), tightening.max_bytes),
        max_rows: tighter(offer.and_then(|o| o.max_rows), tightening.max_rows),
        fee_per_request: offer.map_or(0, |o| o.fee_per_request),
        fee_per_mb: offer.map_or(0, |o| o.fee_per_mb),
        state: GrantState::Active,
        status_reason: None,
        created_at: now,
        updated_at: now,
        distributions: request.distributions.clone(),
        column_rules: tightening
            .column_rules
            .clone()
            .or_else(|| offer.and_then(|o| o.column_rules.clone())),
    };
    if let Some(rules) = &grant.column_rules {
        rules
            .check()
            .map_err(|message| LicensingError::invalid("column_rules", message))?;
    }
    store::insert_grant(conn, &grant)?;
    Ok(grant)
}

fn record_grant(
    conn: &mut DbConnection,
    grant: &Grant,
    actor: Option<&Principal>,
    context: &RequestContext,
    now: pdx_core::Timestamp,
) -> Result<(), LicensingError> {
    let event = AuditRecord::success(AuditKind::GrantIssued, actor.map(|a| a.user), actor.map(|a| a.org))
        .subject(grant.id)
        .detail(serde_json::json!({ "consumer": grant.organization_id, "dataset": grant.dataset_id, "valid_until": grant.valid_until }));
    audit::record(conn, &event, context, now)?;
    Ok(())
}

/// Decides with grant usage counted from the ledger; returns the grant relied on, if any.
fn decide_in(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    distribution: DistributionId,
    purpose: Option<&str>,
    rows: Option<u64>,
    now: pdx_core::Timestamp,
) -> Result<(AccessDecision, Distribution, Option<Grant>), LicensingError> {
    let facts = PreFacts::read(conn, principal.map(|p| p.org), distribution)?;
    let (decision, grant) = facts.decide(principal, purpose, rows, now);
    Ok((decision, facts.distribution, grant))
}

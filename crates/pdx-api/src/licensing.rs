//! Licensing over HTTP: development-use licences and their ODRL policies, offers, access
//! requests and their review, grants and their lifecycle, and the access decision.

use actix_web::{HttpResponse, get, post, put, web};
use pdx_core::{AccessRequestId, DistributionId, GrantId};
use pdx_licensing::decision::{AccessDecision, Basis};
use pdx_licensing::model::{AccessRequest, Grant, GrantState, GrantUsage, Offer};
use pdx_licensing::service::{OfferInput, RequestInput, Tightening};
use pdx_rows::mask::{ColumnRules, Mask};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::authn::{Authenticated, Context, MaybeAuthenticated};
use crate::error::{ApiError, Problem};
use crate::state::ApiState;

/// A development-use licence to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLicenceRequest {
    /// Its id, e.g. `pdx-dev-use-1.0`.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Where its text is.
    pub url: String,
    /// Its policy: `{permissions: [{action, constraint?}], prohibitions?: […]}` (strict ODRL subset).
    #[schema(value_type = Object)]
    pub policy: serde_json::Value,
}

/// Creates a development-use licence with its policy (platform admins). A policy outside the
/// supported ODRL subset is refused, naming where.
#[utoipa::path(
    tag = "licensing",
    security(("bearer" = [])),
    request_body = CreateLicenceRequest,
    responses(
        (status = 201, description = "Created"),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Id taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid policy or field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/licences")]
pub(crate) async fn create_licence(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    body: web::Json<CreateLicenceRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    state
        .licensing
        .create_licence(
            &principal,
            &body.id,
            &body.title,
            &body.url,
            body.policy,
            &context,
        )
        .await?;
    Ok(HttpResponse::Created().finish())
}

/// A licence's policy in ODRL 2.2 JSON-LD.
#[utoipa::path(
    tag = "licensing",
    params(("id" = String, Path, description = "Licence id")),
    responses(
        (status = 200, description = "The ODRL policy", body = Object, content_type = "application/ld+json"),
        (status = 404, description = "No such licence", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/licences/{id}/policy")]
pub(crate) async fn get_licence_policy(
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let policy = state.licensing.licence_policy(&path).await?;
    let uid = format!(
        "{}/api/v1/licences/{}/policy",
        state.public_base(),
        path.as_str()
    );
    Ok(HttpResponse::Ok()
        .content_type("application/ld+json")
        .json(policy.to_odrl(&uid)))
}

/// How a column that is not delivered as it is appears in row queries.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaskBody {
    /// `drop` (left out), `hash` (a keyed hash, the same within one grant and different
    /// across grants), `keep_last` (all but the last `characters` replaced by `*`) or `month`
    /// (a date cut to `YYYY-MM`).
    pub rule: String,
    /// For `keep_last`: characters kept, 1 to 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub characters: Option<u8>,
}

/// Which columns row queries deliver under a grant, and how the others are masked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnRulesBody {
    /// Columns delivered as they are (absent: every column not marked sensitive). A column
    /// marked sensitive is delivered as it is only when listed here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// How other columns appear, by name; a column in neither list is left out.
    #[serde(default)]
    pub masks: std::collections::BTreeMap<String, MaskBody>,
}

impl ColumnRulesBody {
    fn into_rules(self) -> Result<ColumnRules, ApiError> {
        let mut masks = std::collections::BTreeMap::new();
        for (name, mask) in self.masks {
            let invalid = |message: &str| ApiError::Validation {
                code: "validation_failed",
                field: format!("column_rules.masks.{name}"),
                message: message.into(),
            };
            let parsed = match (mask.rule.as_str(), mask.characters) {
                ("drop", None) => Mask::Drop,
                ("hash", None) => Mask::Hash,
                ("month", None) => Mask::Month,
                ("keep_last", Some(characters)) => Mask::KeepLast { characters },
                ("keep_last", None) => return Err(invalid("keep_last needs `characters`")),
                ("drop" | "hash" | "month", Some(_)) => {
                    return Err(invalid("only keep_last takes `characters`"));
                }
                _ => return Err(invalid("rule must be drop, hash, keep_last or month")),
            };
            masks.insert(name, parsed);
        }
        let rules = ColumnRules {
            allow: self.allow,
            masks,
        };
        rules.check().map_err(|message| ApiError::Validation {
            code: "validation_failed",
            field: "column_rules".into(),
            message,
        })?;
        Ok(rules)
    }
}

impl From<ColumnRules> for ColumnRulesBody {
    fn from(rules: ColumnRules) -> Self {
        Self {
            allow: rules.allow,
            masks: rules
                .masks
                .into_iter()
                .map(|(name, mask)| {
                    let (rule, characters) = match mask {
                        Mask::Drop => ("drop", None),
                        Mask::Hash => ("hash", None),
                        Mask::Month => ("month", None),
                        Mask::KeepLast { characters } => ("keep_last", Some(characters)),
                    };
                    (
                        name,
                        MaskBody {
                            rule: rule.into(),
                            characters,
                        },
                    )
                })
                .collect(),
        }
    }
}

/// What a dataset's publisher offers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OfferBody {
    /// Licence of the grants.
    pub licence_id: String,
    /// Purposes that may be requested: research, public_service, product_development,
    /// education, journalism, statistics.
    pub purposes: Vec<String>,
    /// Longest term a grant may have, in days.
    pub max_term_days: i32,
    /// Request quota of a grant.
    pub max_requests: Option<i64>,
    /// Byte quota of a grant.
    pub max_bytes: Option<i64>,
    /// Row quota of a grant.
    pub max_rows: Option<i64>,
    /// Fee per request, in fen (CNY minor units).
    #[serde(default)]
    pub fee_per_request: i64,
    /// Fee per megabyte, in fen.
    #[serde(default)]
    pub fee_per_mb: i64,
    /// Column rules of the grants issued under the offer, for row queries (absent: every
    /// column not marked sensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column_rules: Option<ColumnRulesBody>,
}

impl From<Offer> for OfferBody {
    fn from(o: Offer) -> Self {
        Self {
            licence_id: o.licence_id,
            purposes: o.purposes,
            max_term_days: o.max_term_days,
            max_requests: o.max_requests,
            max_bytes: o.max_bytes,
            max_rows: o.max_rows,
            fee_per_request: o.fee_per_request,
            fee_per_mb: o.fee_per_mb,
            column_rules: o.column_rules.map(Into::into),
        }
    }
}

/// The offer of a dataset.
#[utoipa::path(
    tag = "licensing",
    params(("id" = String, Path, description = "Dataset id or slug")),
    responses(
        (status = 200, description = "The offer", body = OfferBody),
        (status = 404, description = "No such dataset or no offer", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/datasets/{id}/offer")]
pub(crate) async fn get_offer(
    state: web::Data<ApiState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    path: web::Path<String>,
) -> Result<web::Json<OfferBody>, ApiError> {
    let offer = state.licensing.offer(principal.as_ref(), &path).await?;
    offer
        .map(|o| web::Json(o.into()))
        .ok_or_else(|| ApiError::ResourceNotFound("no offer is set for this dataset".into()))
}

/// Sets the offer of a dataset (publishers and admins of the owning agency).
#[utoipa::path(
    tag = "licensing",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Dataset id or slug")),
    request_body = OfferBody,
    responses(
        (status = 200, description = "The offer", body = OfferBody),
        (status = 403, description = "Not an admin of the owning agency", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid terms", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/api/v1/datasets/{id}/offer")]
pub(crate) async fn put_offer(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<String>,
    body: web::Json<OfferBody>,
) -> Result<web::Json<OfferBody>, ApiError> {
    let b = body.into_inner();
    let input = OfferInput {
        licence_id: b.licence_id,
        purposes: b.purposes,
        max_term_days: b.max_term_days,
        max_requests: b.max_requests,
        max_bytes: b.max_bytes,
        max_rows: b.max_rows,
        fee_per_request: b.fee_per_request,
        fee_per_mb: b.fee_per_mb,
        column_rules: b
            .column_rules
            .map(ColumnRulesBody::into_rules)
            .transpose()?,
    };
    Ok(web::Json(
        state
            .licensing
            .put_offer(&principal, &path, input, &context)
            .await?
            .into(),
    ))
}

/// An access request as shown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessRequestResponse {
    /// Request id.
    pub id: String,
    /// Dataset id.
    pub dataset_id: String,
    /// Requesting organisation.
    pub organization_id: String,
    /// Requesting user.
    pub user_id: String,
    /// Declared purpose.
    pub purpose: String,
    /// The requester's statement.
    pub statement: String,
    /// Term asked, days.
    pub term_days: i32,
    /// `submitted`, `approved`, `rejected` or `withdrawn`.
    pub status: String,
    /// Who decided (`automatic` for inter-agency sharing).
    pub decided_by: Option<String>,
    /// When (RFC 3339).
    pub decided_at: Option<String>,
    /// The reason given.
    pub decision_reason: Option<String>,
    /// The grant made.
    pub grant_id: Option<String>,
    /// Submitted (RFC 3339).
    pub created_at: String,
    /// Distribution ids asked for; empty means all.
    pub distributions: Vec<String>,
}

impl From<AccessRequest> for AccessRequestResponse {
    fn from(r: AccessRequest) -> Self {
        Self {
            id: r.id.to_string(),
            dataset_id: r.dataset_id.to_string(),
            organization_id: r.organization_id.to_string(),
            user_id: r.user_id.to_string(),
            purpose: r.purpose,
            statement: r.statement,
            term_days: r.term_days,
            status: r.status.as_str().to_owned(),
            decided_by: r.decided_by,
            decided_at: r.decided_at.map(|t| t.to_rfc3339()),
            decision_reason: r.decision_reason,
            grant_id: r.grant_id.map(|g| g.to_string()),
            created_at: r.created_at.to_rfc3339(),
            distributions: r.distributions.iter().map(ToString::to_string).collect(),
        }
    }
}

/// A request for access.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// Dataset id or slug.
    pub dataset: String,
    /// One of the offer's purposes.
    pub purpose: String,
    /// What the data is for.
    pub statement: String,
    /// Term asked, in days (at most the offer's maximum).
    pub term_days: i32,
    /// Distribution ids wanted; all of the dataset's when absent.
    #[schema(value_type = Option<Vec<uuid::Uuid>>)]
    pub distributions: Option<Vec<DistributionId>>,
}

/// Requests access to a dataset that is not plainly open. Refused outright (422) when the
/// classification forbids the requester; between agencies, unconditionally shared data is
/// granted at once.
#[utoipa::path(
    tag = "licensing",
    security(("bearer" = [])),
    request_body = SubmitRequest,
    responses(
        (status = 201, description = "Submitted (or granted at once)", body = AccessRequestResponse),
        (status = 403, description = "Own dataset, or organisation not verified", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset (or distribution) visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not requestable, or invalid terms", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/access-requests")]
pub(crate) async fn submit_request(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    body: web::Json<SubmitRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let request = state
        .licensing
        .submit_request(
            &principal,
            RequestInput {
                dataset: b.dataset,
                purpose: b.purpose,
                statement: b.statement,
                term_days: b.term_days,
                distributions: b.distributions.unwrap_or_default(),
            },
            &context,
        )
        .await?;
    Ok(HttpResponse::Created().json(AccessRequestResponse::from(request)))
}

/// Which requests to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RequestQuery {
    /// `true`: requests for the caller's agency's datasets (reviewers); otherwise the caller's own.
    pub queue: Option<bool>,
}

/// The caller's organisation's requests, or the review queue of its agency.
#[utoipa::path(
    tag = "licensing",
    security(("bearer" = [])),
    params(RequestQuery),
    responses((status = 200, description = "Requests, newest first", body = Vec<AccessRequestResponse>))
)]
#[get("/api/v1/access-requests")]
pub(crate) async fn list_requests(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    query: web::Query<RequestQuery>,
) -> Result<web::Json<Vec<AccessRequestResponse>>, ApiError> {
    let requests = state
        .licensing
        .requests(&principal, query.queue.unwrap_or(false))
        .await?;
    Ok(web::Json(requests.into_iter().map(Into::into).collect()))
}

/// One request (requester, owning agency, auditors).
#[utoipa::path(
    tag = "licensing",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id")),
    responses(
        (status = 200, description = "The request", body = AccessRequestResponse),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/access-requests/{id}")]
pub(crate) async fn get_request(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    path: web::Path<AccessRequestId>,
) -> Result<web::Json<AccessRequestResponse>, ApiError> {
    Ok(web::Json(
        state
            .licensing
            .request(&principal, path.into_inner())
            .await?
            .into(),
    ))
}

/// A reviewer's approval, optionally tightening the terms.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// A shorter term, days.
    pub term_days: Option<i32>,
    /// A smaller request quota.
    pub max_requests: Option<i64>,
    /// A smaller byte quota.
    pub max_bytes: Option<i64>,
    /// A smaller row quota.
    pub max_rows: Option<i64>,
    /// This grant's column rules, instead of the offer's.
    pub column_rules: Option<ColumnRulesBody>,
}

/// The outcome of an approval.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalResponse {
    /// The request, now approved.
    pub request: AccessRequestResponse,
    /// The grant issued.
    pub grant: GrantResponse,
}

/// Approves a submitted request and issues the grant (reviewers and admins of the owning agency).
#[utoipa::path(
    tag = "licensing",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id")),
    request_body(content = Option<ApproveRequest>),
    responses(
        (status = 200, description = "Approved", body = ApprovalResponse),
        (status = 403, description = "Not a reviewer of the owning agency", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No longer submitted", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/access-requests/{id}/approve")]
pub(crate) async fn approve_request(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<AccessRequestId>,
    body: Option<web::Json<ApproveRequest>>,
) -> Result<web::Json<ApprovalResponse>, ApiError> {
    let b = body.map(web::Json::into_inner).unwrap_or_default();
    let tightening = Tightening {
        term_days: b.term_days,
        max_requests: b.max_requests,
        max_bytes: b.max_bytes,
        max_rows: b.max_rows,
        column_rules: b
            .column_rules
            .map(ColumnRulesBody::into_rules)
            .transpose()?,
    };
    let (request, grant) = state
        .licensing
        .approve(&principal, path.into_inner(), tightening, &context)
        .await?;
    let now = chrono::Utc::now();
    Ok(web::Json(ApprovalResponse {
        request: request.into(),
        grant: GrantResponse::at(grant, now),
    }))
}

/// A reason, for rejections and grant changes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// Why.
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: Option<String>,
}

/// Rejects a submitted request with a reason (reviewers and admins of the owning agency).
#[utoipa::path(
    tag = "licensing",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id")),
    request_body = ReasonRequest,
    responses(
        (status = 200, description = "Rejected", body = AccessRequestResponse),
        (status = 409, description = "No longer submitted", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason given", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/access-requests/{id}/reject")]
pub(crate) async fn reject_request(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<AccessRequestId>,
    body: web::Json<ReasonRequest>,
) -> Result<web::Json<AccessRequestResponse>, ApiError> {
    let reason = body.into_inner().reason.unwrap_or_default();
    Ok(web::Json(
        state
            .licensing
            .reject(&principal, path.into_inner(), &reason, &context)
            .await?
            .into(),
    ))
}

/// Withdraws the caller's organisation's submitted request.
#[utoipa::path(
    tag = "licensing",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id")),
    responses(
        (status = 200, description = "Withdrawn", body = AccessRequestResponse),
        (status = 409, description = "No longer submitted", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/access-requests/{id}/withdraw")]
pub(crate) async fn withdraw_request(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    Context(context): Context,
    path: web::Path<AccessRequestId>,
) -> Result<web::Json<AccessRequestResponse>, ApiError> {
    Ok(web::Json(
        state
            .licensing
            .withdraw(&principal, path.into_inner(), &context)
            .await?
            .into(),
    ))
}

/// A grant as shown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantResponse {
    /// Grant id.
    pub id: String,
    /// Dataset id.
    pub dataset_id: String,
    /// Consumer organisation.
    pub organization_id: String,
    /// Licence.
    pub licence_id: String,
    /// The request it answers.
    pub request_id: Option<String>,
    /// In force from (RFC 3339).
    pub valid_from: String,
    /// In force until, exclusive (RFC 3339).
    pub valid_until: String,
    /// Purposes allowed.
    pub purposes: Vec<String>,
    /// Request quota.
    pub max_requests: Option<i64>,
    /// Byte quota.
    pub max_bytes: Option<i64>,
    /// Row quota.
    pub max_rows: Option<i64>,
    /// Fee per request, fen.
    pub fee_per_request: i64,
    /// Fee per megabyte, fen.
    pub fee_per_mb: i64,
    /// `active`, `suspended`, `revoked` or `expired`, as of now.
    pub status: String,
    /// Why it was last suspended or revoked.
    pub status_reason: Option<String>,
    /// Distribution ids covered; empty means all.
    pub distributions: Vec<String>,
    /// Which columns row queries deliver and how the others are masked (absent: every
    /// column not marked sensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column_rules: Option<ColumnRulesBody>,
    /// Use so far, counted from the circulation ledger.
    pub usage: UsageResponse,
}

/// A grant's use so far.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct UsageResponse {
    /// Requests served under it.
    pub requests: u64,
    /// Bytes served under it.
    pub bytes: u64,
    /// Rows served under it (row queries).
    #[serde(default)]
    pub rows: u64,
}

impl GrantResponse {
    fn with_usage(mut self, usage: GrantUsage) -> Self {
        self.usage = UsageResponse {
            requests: usage.requests,
            bytes: usage.bytes,
            rows: usage.rows,
        };
        self
    }

    fn at(g: Grant, now: pdx_core::Timestamp) -> Self {
        Self {
            status: g.status(now).as_str().to_owned(),
            id: g.id.to_string(),
            dataset_id: g.dataset_id.to_string(),
            organization_id: g.organization_id.to_string(),
            licence_id: g.licence_id,
            request_id: g.request_id.map(|r| r.to_string()),
            valid_from: g.valid_from.to_rfc3339(),
            valid_until: g.valid_until.to_rfc3339(),
            purposes: g.purposes,
            max_requests: g.max_requests,
            max_bytes: g.max_bytes,
            max_rows: g.max_rows,
            fee_per_request: g.fee_per_request,
            fee_per_mb: g.fee_per_mb,
            status_reason: g.status_reason,
            distributions: g.distributions.iter().map(ToString::to_string).collect(),
            column_rules: g.column_rules.map(Into::into),
            usage: UsageResponse::default(),
        }
    }
}

/// The grants the caller may see: its organisation's; its agency's datasets' (admins and
/// reviewers); all (auditors).
#[utoipa::path(
    tag = "licensing",
    security(("bearer" = [])),
    responses((status = 200, description = "Grants, newest first", body = Vec<GrantResponse>))
)]
#[get("/api/v1/grants")]
pub(crate) async fn list_grants(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
) -> Result<web::Json<Vec<GrantResponse>>, ApiError> {
    let now = chrono::Utc::now();
    let grants = state.licensing.grants(&principal).await?;
    let usage = state
        .licensing
        .usage_of(grants.iter().map(|g| g.id).collect())
        .await?;
    Ok(web::Json(
        grants
            .into_iter()
            .zip(usage)
            .map(|(g, u)| GrantResponse::at(g, now).with_usage(u))
            .collect(),
    ))
}

/// One grant (consumer, owning agency, auditors).
#[utoipa::path(
    tag = "licensing",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Grant id")),
    responses(
        (status = 200, description = "The grant", body = GrantResponse),
        (status = 404, description = "No such grant", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/grants/{id}")]
pub(crate) async fn get_grant(
    state: web::Data<ApiState>,
    Authenticated(principal): Authenticated,
    path: web::Path<GrantId>,
) -> Result<web::Json<GrantResponse>, ApiError> {
    let grant = state.licensing.grant(&principal, path.into_inner()).await?;
    let usage = state.licensing.usage_of(vec![grant.id]).await?;
    let response = GrantResponse::at(grant, chrono::Utc::now());
    Ok(web::Json(match usage.into_iter().next() {
        Some(usage) => response.with_usage(usage),
        None => response,
    }))
}

async fn change(
    state: &ApiState,
    principal: &pdx_core::Principal,
    id: GrantId,
    to: GrantState,
    body: Option<web::Json<ReasonRequest>>,
    context: &pdx_access::RequestContext,
) -> Result<web::Json<GrantResponse>, ApiError> {
    let reason = body.and_then(|b| b.into_inner().reason);
    let grant = state
        .licensing
        .change_grant(principal, id, to, reason, context)
        .await?;
    Ok(web::Json(GrantResponse::at(grant, chrono::Utc::now())))
}

macro_rules! grant_endpoint {
    ($name:ident, $path:literal, $to:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(
            tag = "licensing",
            security(("bearer" = [])),
            params(("id" = String, Path, description = "Grant id")),
            request_body(content = Option<ReasonRequest>),
            responses(
                (status = 200, description = "The grant after the change", body = GrantResponse),
                (status = 403, description = "Not an admin of the owning agency", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "Not allowed from the current status", body = Problem, content_type = "application/problem+json"),
            )
        )]
        #[post($path)]
        pub(crate) async fn $name(
            state: web::Data<ApiState>,
            Authenticated(principal): Authenticated,
            Context(context): Context,
            path: web::Path<GrantId>,
            body: Option<web::Json<ReasonRequest>>,
        ) -> Result<web::Json<GrantResponse>, ApiError> {
            change(&state, &principal, path.into_inner(), $to, body, &context).await
        }
    };
}

grant_endpoint!(
    suspend_grant,
    "/api/v1/grants/{id}/suspend",
    GrantState::Suspended,
    "Suspends an active grant."
);
grant_endpoint!(
    resume_grant,
    "/api/v1/grants/{id}/resume",
    GrantState::Active,
    "Resumes a suspended grant."
);
grant_endpoint!(
    revoke_grant,
    "/api/v1/grants/{id}/revoke",
    GrantState::Revoked,
    "Revokes a grant; final."
);

/// Query of the access decision.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccessQuery {
    /// The purpose the data would be used for.
    pub purpose: Option<String>,
}

/// The access decision for the caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessResponse {
    /// `permit` or `deny`.
    pub decision: String,
    /// For permits: `open`, `owner` or `grant`.
    pub basis: Option<String>,
    /// For grant permits: the grant.
    pub grant_id: Option<String>,
    /// For denials: the reason code.
    pub reason: Option<String>,
}

/// May the caller obtain this distribution now, for this purpose? Grant quotas are counted
/// from the circulation ledger. Asking is not logged; obtaining the data is.
#[utoipa::path(
    tag = "licensing",
    params(("id" = String, Path, description = "Distribution id"), AccessQuery),
    responses(
        (status = 200, description = "The decision", body = AccessResponse),
        (status = 404, description = "No such distribution", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/distributions/{id}/access")]
pub(crate) async fn get_access(
    state: web::Data<ApiState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    path: web::Path<DistributionId>,
    query: web::Query<AccessQuery>,
) -> Result<web::Json<AccessResponse>, ApiError> {
    let decision = state
        .licensing
        .decide(
            principal.as_ref(),
            path.into_inner(),
            query.purpose.as_deref(),
        )
        .await?;
    Ok(web::Json(match decision {
        AccessDecision::Permit(basis) => {
            let (name, grant) = match basis {
                Basis::Open => ("open", None),
                Basis::Owner => ("owner", None),
                Basis::Grant { grant } => ("grant", Some(grant.to_string())),
            };
            AccessResponse {
                decision: "permit".into(),
                basis: Some(name.into()),
                grant_id: grant,
                reason: None,
            }
        }
        AccessDecision::Deny(reason) => AccessResponse {
            decision: "deny".into(),
            basis: None,
            grant_id: None,
            reason: Some(reason.code().into()),
        },
    }))
}

//! The role × endpoint matrix of access control: every endpoint, called by every role,
//! is allowed or refused exactly as the table in `pdx_access::permissions` says.

use pdx_core::{OrgKind, Role};
use pdx_tests::{TestServer, json};
use reqwest::Method;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    PlatformAdmin,
    Auditor,
    AgencyAdmin,
    AgencyPublisher,
    AgencyReviewer,
    AgencyMember,
    EnterpriseAdmin,
    EnterpriseMember,
}

const CALLERS: [Caller; 9] = [
    Caller::Anonymous,
    Caller::PlatformAdmin,
    Caller::Auditor,
    Caller::AgencyAdmin,
    Caller::AgencyPublisher,
    Caller::AgencyReviewer,
    Caller::AgencyMember,
    Caller::EnterpriseAdmin,
    Caller::EnterpriseMember,
];

impl Caller {
    fn email(self) -> Option<&'static str> {
        match self {
            Self::Anonymous => None,
            Self::PlatformAdmin => Some("root@pdx.test"),
            Self::Auditor => Some("auditor@pdx.test"),
            Self::AgencyAdmin => Some("admin@water.test"),
            Self::AgencyPublisher => Some("publisher@water.test"),
            Self::AgencyReviewer => Some("reviewer@water.test"),
            Self::AgencyMember => Some("member@water.test"),
            Self::EnterpriseAdmin => Some("admin@acme.test"),
            Self::EnterpriseMember => Some("member@acme.test"),
        }
    }
}

/// One call of the matrix: name, method, path, body, who may, and whether it is public.
type Case = (
    &'static str,
    Method,
    String,
    Option<serde_json::Value>,
    Vec<Caller>,
    bool,
);

/// What an endpoint should answer a caller: success, 401 or 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok,
    Unauthorized,
    Forbidden,
}

fn expect(allowed: &[Caller], public: bool, caller: Caller) -> Expect {
    if allowed.contains(&caller) {
        Expect::Ok
    } else if caller == Caller::Anonymous && !public {
        Expect::Unauthorized
    } else {
        Expect::Forbidden
    }
}

#[tokio::test]
async fn every_endpoint_allows_or_refuses_every_role_as_the_table_says() {
    use Caller::*;
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    server.create_org("acme", OrgKind::Enterprise).await;
    server
        .create_user("platform", "root@pdx.test", &[Role::PlatformAdmin])
        .await;
    server
        .create_user("platform", "auditor@pdx.test", &[Role::Auditor])
        .await;
    server
        .create_user("water", "admin@water.test", &[Role::Admin])
        .await;
    server
        .create_user("water", "publisher@water.test", &[Role::Publisher])
        .await;
    server
        .create_user("water", "reviewer@water.test", &[Role::Reviewer])
        .await;
    server
        .create_user("water", "member@water.test", &[Role::Member])
        .await;
    server
        .create_user("acme", "admin@acme.test", &[Role::Admin])
        .await;
    server
        .create_user("acme", "member@acme.test", &[Role::Member])
        .await;

    let authenticated: Vec<Caller> = CALLERS
        .iter()
        .copied()
        .filter(|c| *c != Anonymous)
        .collect();
    let everyone: Vec<Caller> = CALLERS.to_vec();
    let mut failures = Vec::new();

    for (index, caller) in CALLERS.into_iter().enumerate() {
        let token = match caller.email() {
            Some(email) => Some(server.access_token(email).await),
            None => None,
        };
        let token = token.as_deref();
        // Fresh targets for the calls that change things, so each caller's call can succeed.
        let target = server
            .create_user(
                "water",
                &format!("target{index}@water.test"),
                &[Role::Member],
            )
            .await;
        let unverified = format!("pending-{index}");
        server
            .register_enterprise(
                &format!("owner{index}@pending.test"),
                &unverified,
                &credit_code(index),
            )
            .await;

        let cases: Vec<Case> = vec![
            (
                "me",
                Method::GET,
                "/api/v1/me".into(),
                None,
                authenticated.clone(),
                false,
            ),
            (
                "list organisations",
                Method::GET,
                "/api/v1/organizations".into(),
                None,
                everyone.clone(),
                true,
            ),
            (
                "list unverified organisations",
                Method::GET,
                "/api/v1/organizations?verified=false".into(),
                None,
                vec![PlatformAdmin, Auditor],
                true,
            ),
            (
                "create organisation",
                Method::POST,
                "/api/v1/organizations".into(),
                Some(
                    json!({ "name": "New Agency", "slug": format!("new-agency-{index}"), "kind": "agency" }),
                ),
                vec![PlatformAdmin],
                false,
            ),
            (
                "edit organisation",
                Method::PATCH,
                "/api/v1/organizations/water".into(),
                Some(json!({ "contact_phone": "+86 755 0000" })),
                vec![PlatformAdmin, AgencyAdmin],
                false,
            ),
            (
                "verify organisation",
                Method::PUT,
                format!("/api/v1/organizations/{unverified}/verification"),
                Some(json!({ "verified": true })),
                vec![PlatformAdmin],
                false,
            ),
            (
                "list agency members",
                Method::GET,
                "/api/v1/organizations/water/members".into(),
                None,
                vec![PlatformAdmin, Auditor, AgencyAdmin],
                false,
            ),
            (
                "list enterprise members",
                Method::GET,
                "/api/v1/organizations/acme/members".into(),
                None,
                vec![PlatformAdmin, Auditor, EnterpriseAdmin],
                false,
            ),
            (
                "add member",
                Method::POST,
                "/api/v1/organizations/water/members".into(),
                Some(json!({ "email": format!("new{index}@water.test"), "roles": ["member"] })),
                vec![PlatformAdmin, AgencyAdmin],
                false,
            ),
            (
                "list invitations",
                Method::GET,
                "/api/v1/organizations/water/invitations".into(),
                None,
                vec![PlatformAdmin, Auditor, AgencyAdmin],
                false,
            ),
            (
                "set member roles",
                Method::PUT,
                format!("/api/v1/organizations/water/members/{}", target.id),
                Some(json!({ "roles": ["publisher"] })),
                vec![PlatformAdmin, AgencyAdmin],
                false,
            ),
            (
                "remove member",
                Method::DELETE,
                format!("/api/v1/organizations/water/members/{}", target.id),
                None,
                vec![PlatformAdmin, AgencyAdmin],
                false,
            ),
            (
                "create API key",
                Method::POST,
                "/api/v1/api-keys".into(),
                Some(json!({ "name": "k" })),
                authenticated.clone(),
                false,
            ),
            (
                "list API keys",
                Method::GET,
                "/api/v1/api-keys".into(),
                None,
                authenticated.clone(),
                false,
            ),
            (
                "read audit trail",
                Method::GET,
                "/api/v1/audit-events".into(),
                None,
                vec![PlatformAdmin, Auditor],
                false,
            ),
        ];
        for (name, method, path, body, allowed, public) in cases {
            let response = server.call(method, &path, token, body).await;
            let status = response.status();
            let got = if status.is_success() {
                Expect::Ok
            } else if status == 401 {
                Expect::Unauthorized
            } else if status == 403 {
                Expect::Forbidden
            } else {
                failures.push(format!(
                    "{caller:?} {name}: unexpected {status} {}",
                    json(response).await
                ));
                continue;
            };
            let wanted = expect(&allowed, public, caller);
            if got != wanted {
                failures.push(format!(
                    "{caller:?} {name}: expected {wanted:?}, got {status}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "permission matrix violations:\n{}",
        failures.join("\n")
    );
}

/// Valid, distinct unified social credit codes.
fn credit_code(index: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [usize; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let body = format!("91440300MA5F{index:05}");
    let sum: usize = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| ALPHABET.iter().position(|&a| a == b).unwrap_or(0) * w)
        .sum();
    let check = ALPHABET[(31 - sum % 31) % 31] as char;
    format!("{body}{check}")
}

#[tokio::test]
async fn refused_management_calls_and_organisation_edits_are_recorded_in_the_ledger() {
    let server = TestServer::spawn().await;
    server.create_org("acme", OrgKind::Enterprise).await;
    server
        .create_user("platform", "root@pdx.test", &[Role::PlatformAdmin])
        .await;
    let member = server
        .create_user("acme", "member@acme.test", &[Role::Member])
        .await;
    server
        .create_user("acme", "admin@acme.test", &[Role::Admin])
        .await;
    let root = server.access_token("root@pdx.test").await;
    let token = server.access_token("member@acme.test").await;
    let refused = server
        .call(
            Method::POST,
            "/api/v1/organizations",
            Some(&token),
            Some(json!({ "name": "Shadow Agency", "kind": "agency" })),
        )
        .await;
    assert_eq!(refused.status(), 403);
    let check = json(refused).await["check"].clone();
    let entries = json(
        server
            .call(
                Method::GET,
                "/api/v1/ledger/entries?kind=access_refused",
                Some(&root),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(entries["total"], 1, "{entries}");
    let entry = &entries["items"][0];
    assert_eq!(entry["decision"], "failure");
    assert_eq!(entry["reason"], check, "the check that refused");
    assert_eq!(entry["actor_user"], member.id.to_string());
    assert_eq!(entry["subject"], "/api/v1/organizations");
    assert_eq!(entry["detail"]["method"], "POST");

    let admin = server.access_token("admin@acme.test").await;
    let edited = server
        .call(
            Method::PATCH,
            "/api/v1/organizations/acme",
            Some(&admin),
            Some(json!({ "contact_phone": "+86 755 1234" })),
        )
        .await;
    assert_eq!(edited.status(), 200);
    let updates = json(
        server
            .call(
                Method::GET,
                "/api/v1/ledger/entries?kind=organization_updated",
                Some(&root),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(updates["total"], 1, "{updates}");
    assert_eq!(
        updates["items"][0]["detail"]["contact_phone"],
        "+86 755 1234"
    );
}

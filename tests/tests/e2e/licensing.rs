//! Licensing over real HTTP: licences with policies, offers, access requests and their review,
//! automatic inter-agency grants, grant lifecycle, and the access decision for each case.

use pdx_core::{OrgKind, Role};
use pdx_tests::{TestServer, json};
use reqwest::Method;
use serde_json::{Value, json};

fn dataset(slug: &str, sharing: &str, opening: &str, grade: &str) -> Value {
    json!({
        "slug": slug, "title": format!("Dataset {slug}"), "description": "Hourly readings",
        "keywords": ["water"], "themes": ["ENVI"], "update_frequency": "hourly", "languages": ["zh"],
        "sharing_class": sharing, "opening_class": opening, "grade": grade,
        "licence": if opening == "open" { Value::from("CC-BY-4.0") } else { Value::Null },
    })
}

struct World {
    server: TestServer,
    admin: String,
    reviewer: String,
    enterprise: String,
    agency: String,
    root: String,
    distribution: String,
}

async fn publish(server: &TestServer, publisher: &str, reviewer: &str, body: Value) -> String {
    server
        .publish_dataset(publisher, reviewer, body, "station,level\nA,3.2\n")
        .await
}

async fn world() -> World {
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    server.create_org("health", OrgKind::Agency).await;
    server.create_org("acme", OrgKind::Enterprise).await;
    server
        .create_user("platform", "root@pdx.test", &[Role::PlatformAdmin])
        .await;
    server
        .create_user("water", "admin@water.test", &[Role::Admin])
        .await;
    server
        .create_user("water", "pub@water.test", &[Role::Publisher])
        .await;
    server
        .create_user("water", "rev@water.test", &[Role::Reviewer])
        .await;
    server
        .create_user("health", "clerk@health.test", &[Role::Member])
        .await;
    server
        .create_user("acme", "dev@acme.test", &[Role::Member])
        .await;
    let publisher = server.access_token("pub@water.test").await;
    let reviewer = server.access_token("rev@water.test").await;
    let distribution = publish(
        &server,
        &publisher,
        &reviewer,
        dataset("levels", "conditional", "conditional", "general"),
    )
    .await;
    World {
        admin: server.access_token("admin@water.test").await,
        enterprise: server.access_token("dev@acme.test").await,
        agency: server.access_token("clerk@health.test").await,
        root: server.access_token("root@pdx.test").await,
        reviewer,
        distribution,
        server,
    }
}

async fn access(w: &World, token: Option<&str>, purpose: &str) -> Value {
    json(
        w.server
            .call(
                Method::GET,
                &format!(
                    "/api/v1/distributions/{}/access?purpose={purpose}",
                    w.distribution
                ),
                token,
                None,
            )
            .await,
    )
    .await
}

async fn offer(w: &World) {
    let licence = w.server.call(Method::POST, "/api/v1/licences", Some(&w.root), Some(json!({
        "id": "pdx-dev-use-1.0", "title": "PDX development-use agreement", "url": "https://pdx.test/licences/dev-use",
        "policy": { "permissions": [{ "action": "use", "constraint": { "leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["research", "product_development"] } }] }
    }))).await;
    assert_eq!(licence.status(), 201);
    let set = w.server.call(Method::PUT, "/api/v1/datasets/levels/offer", Some(&w.admin), Some(json!({
        "licence_id": "pdx-dev-use-1.0", "purposes": ["research", "product_development"], "max_term_days": 90,
        "max_requests": 1000, "fee_per_request": 5
    }))).await;
    assert_eq!(set.status(), 200);
}

async fn submit(w: &World, token: &str, purpose: &str) -> reqwest::Response {
    w.server.call(Method::POST, "/api/v1/access-requests", Some(token), Some(json!({
        "dataset": "levels", "purpose": purpose, "statement": "Flood warnings in our logistics app", "term_days": 60
    }))).await
}

#[tokio::test]
async fn enterprise_requests_reviewer_approves_and_the_decision_permits() {
    let w = world().await;
    assert_eq!(
        access(&w, Some(&w.enterprise), "research").await["reason"],
        "no_grant"
    );
    assert_eq!(
        access(&w, None, "research").await["reason"],
        "authentication_required"
    );
    assert_eq!(
        submit(&w, &w.enterprise, "research").await.status(),
        422,
        "no offer yet"
    );
    offer(&w).await;

    let submitted = submit(&w, &w.enterprise, "research").await;
    assert_eq!(submitted.status(), 201);
    let request = json(submitted).await;
    assert_eq!(request["status"], "submitted");
    let id = request["id"].as_str().unwrap_or_default().to_owned();
    let queue = json(
        w.server
            .call(
                Method::GET,
                "/api/v1/access-requests?queue=true",
                Some(&w.reviewer),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(queue.as_array().map(Vec::len), Some(1));

    let by_requester = w
        .server
        .call(
            Method::POST,
            &format!("/api/v1/access-requests/{id}/approve"),
            Some(&w.enterprise),
            None,
        )
        .await;
    assert_eq!(by_requester.status(), 403);
    let approved = w
        .server
        .call(
            Method::POST,
            &format!("/api/v1/access-requests/{id}/approve"),
            Some(&w.reviewer),
            Some(json!({ "term_days": 30, "max_requests": 100 })),
        )
        .await;
    assert_eq!(approved.status(), 200);
    let approved = json(approved).await;
    assert_eq!(approved["request"]["status"], "approved");
    let grant = &approved["grant"];
    assert_eq!(grant["status"], "active");
    assert_eq!(
        grant["max_requests"], 100,
        "tightened below the offer's 1000"
    );
    assert_eq!(grant["fee_per_request"], 5);
    assert_eq!(grant["purposes"], json!(["research"]));

    let decision = access(&w, Some(&w.enterprise), "research").await;
    assert_eq!(
        (decision["decision"].as_str(), decision["basis"].as_str()),
        (Some("permit"), Some("grant"))
    );
    assert_eq!(
        access(&w, Some(&w.enterprise), "journalism").await["reason"],
        "purpose_not_allowed"
    );
    assert_eq!(
        access(&w, Some(&w.admin), "research").await["basis"],
        "owner"
    );

    let again = w
        .server
        .call(
            Method::POST,
            &format!("/api/v1/access-requests/{id}/approve"),
            Some(&w.reviewer),
            None,
        )
        .await;
    assert_eq!(
        again.status(),
        409,
        "a decided request cannot be decided again"
    );
    let grants = json(
        w.server
            .call(Method::GET, "/api/v1/grants", Some(&w.enterprise), None)
            .await,
    )
    .await;
    assert_eq!(grants.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn rejection_and_withdrawal_are_final_and_illegal_moves_change_nothing() {
    let w = world().await;
    offer(&w).await;
    let first = json(submit(&w, &w.enterprise, "research").await).await;
    let id = first["id"].as_str().unwrap_or_default().to_owned();
    let no_reason = w
        .server
        .call(
            Method::POST,
            &format!("/api/v1/access-requests/{id}/reject"),
            Some(&w.reviewer),
            Some(json!({})),
        )
        .await;
    assert_eq!(no_reason.status(), 422);
    let rejected = w
        .server
        .call(
            Method::POST,
            &format!("/api/v1/access-requests/{id}/reject"),
            Some(&w.reviewer),
            Some(json!({ "reason": "statement too vague" })),
        )
        .await;
    let rejected = json(rejected).await;
    assert_eq!(
        (
            rejected["status"].as_str(),
            rejected["decision_reason"].as_str()
        ),
        (Some("rejected"), Some("statement too vague"))
    );
    let withdraw_rejected = w
        .server
        .call(
            Method::POST,
            &format!("/api/v1/access-requests/{id}/withdraw"),
            Some(&w.enterprise),
            None,
        )
        .await;
    assert_eq!(withdraw_rejected.status(), 409);
    let still = json(
        w.server
            .call(
                Method::GET,
                &format!("/api/v1/access-requests/{id}"),
                Some(&w.enterprise),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(
        still["status"], "rejected",
        "the illegal move changed nothing"
    );

    let second = json(submit(&w, &w.enterprise, "product_development").await).await;
    let id = second["id"].as_str().unwrap_or_default().to_owned();
    let withdrawn = json(
        w.server
            .call(
                Method::POST,
                &format!("/api/v1/access-requests/{id}/withdraw"),
                Some(&w.enterprise),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(withdrawn["status"], "withdrawn");
    let approve_withdrawn = w
        .server
        .call(
            Method::POST,
            &format!("/api/v1/access-requests/{id}/approve"),
            Some(&w.reviewer),
            None,
        )
        .await;
    assert_eq!(approve_withdrawn.status(), 409);
    assert_eq!(
        access(&w, Some(&w.enterprise), "research").await["reason"],
        "no_grant"
    );
}

#[tokio::test]
async fn unconditional_sharing_between_agencies_is_granted_at_once() {
    let w = world().await;
    let publisher = w.server.access_token("pub@water.test").await;
    let shared = publish(
        &w.server,
        &publisher,
        &w.reviewer,
        dataset("shared", "unconditional", "conditional", "general"),
    )
    .await;
    let request = w.server.call(Method::POST, "/api/v1/access-requests", Some(&w.agency), Some(json!({
        "dataset": "shared", "purpose": "public_service", "statement": "Emergency planning for hospitals", "term_days": 365
    }))).await;
    assert_eq!(request.status(), 201);
    let request = json(request).await;
    assert_eq!(
        (request["status"].as_str(), request["decided_by"].as_str()),
        (Some("approved"), Some("automatic"))
    );
    let decision = json(
        w.server
            .call(
                Method::GET,
                &format!("/api/v1/distributions/{shared}/access?purpose=public_service"),
                Some(&w.agency),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(decision["decision"], "permit");
}

#[tokio::test]
async fn closed_or_unshared_data_cannot_be_requested_and_unverified_enterprises_cannot_request() {
    let w = world().await;
    let publisher = w.server.access_token("pub@water.test").await;
    publish(
        &w.server,
        &publisher,
        &w.reviewer,
        dataset("closed", "conditional", "closed", "important"),
    )
    .await;
    publish(
        &w.server,
        &publisher,
        &w.reviewer,
        dataset("core", "none", "closed", "core"),
    )
    .await;
    for (slug, token) in [
        ("closed", &w.enterprise),
        ("core", &w.enterprise),
        ("core", &w.agency),
    ] {
        let refused = w.server.call(Method::POST, "/api/v1/access-requests", Some(token), Some(json!({
            "dataset": slug, "purpose": "research", "statement": "We would like this data please", "term_days": 30
        }))).await;
        assert_eq!(refused.status(), 422, "{slug}");
        assert_eq!(json(refused).await["code"], "classification_forbids");
    }
    offer(&w).await;
    w.server
        .register_enterprise("new@startup.test", "startup", "91440300MA5F000007")
        .await;
    let unverified = w.server.access_token("new@startup.test").await;
    assert_eq!(submit(&w, &unverified, "research").await.status(), 403);
}

#[tokio::test]
async fn grants_suspend_resume_and_revoke_with_the_decision_following() {
    let w = world().await;
    offer(&w).await;
    let request = json(submit(&w, &w.enterprise, "research").await).await;
    let id = request["id"].as_str().unwrap_or_default();
    let approved = json(
        w.server
            .call(
                Method::POST,
                &format!("/api/v1/access-requests/{id}/approve"),
                Some(&w.reviewer),
                None,
            )
            .await,
    )
    .await;
    let grant = approved["grant"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let by_reviewer = w
        .server
        .call(
            Method::POST,
            &format!("/api/v1/grants/{grant}/suspend"),
            Some(&w.reviewer),
            None,
        )
        .await;
    assert_eq!(by_reviewer.status(), 403, "only admins change grants");
    let suspended = json(
        w.server
            .call(
                Method::POST,
                &format!("/api/v1/grants/{grant}/suspend"),
                Some(&w.admin),
                Some(json!({ "reason": "audit pending" })),
            )
            .await,
    )
    .await;
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(
        access(&w, Some(&w.enterprise), "research").await["reason"],
        "grant_suspended"
    );
    let resumed = json(
        w.server
            .call(
                Method::POST,
                &format!("/api/v1/grants/{grant}/resume"),
                Some(&w.admin),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(resumed["status"], "active");
    assert_eq!(
        access(&w, Some(&w.enterprise), "research").await["decision"],
        "permit"
    );
    let revoked = json(
        w.server
            .call(
                Method::POST,
                &format!("/api/v1/grants/{grant}/revoke"),
                Some(&w.admin),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(
        access(&w, Some(&w.enterprise), "research").await["reason"],
        "grant_revoked"
    );
    let resurrect = w
        .server
        .call(
            Method::POST,
            &format!("/api/v1/grants/{grant}/resume"),
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(resurrect.status(), 409, "revocation is final");

    let auditor = {
        w.server
            .create_user("platform", "audit@pdx.test", &[Role::Auditor])
            .await;
        w.server.access_token("audit@pdx.test").await
    };
    for kind in [
        "access_requested",
        "access_request_approved",
        "grant_issued",
        "grant_suspended",
        "grant_resumed",
        "grant_revoked",
        "licence_created",
        "offer_set",
    ] {
        let events = json(
            w.server
                .call(
                    Method::GET,
                    &format!("/api/v1/audit-events?kind={kind}"),
                    Some(&auditor),
                    None,
                )
                .await,
        )
        .await;
        assert_eq!(events["total"], 1, "{kind}");
    }
    let all = json(
        w.server
            .call(Method::GET, "/api/v1/grants", Some(&auditor), None)
            .await,
    )
    .await;
    assert_eq!(all.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn licence_policies_outside_the_subset_are_refused_and_exported_as_odrl() {
    let w = world().await;
    let bad = w.server.call(Method::POST, "/api/v1/licences", Some(&w.root), Some(json!({
        "id": "bad", "title": "Bad", "url": "https://pdx.test/bad",
        "policy": { "permissions": [{ "action": "use", "constraint": { "leftOperand": "spatial", "operator": "eq", "rightOperand": "x" } }] }
    }))).await;
    assert_eq!(bad.status(), 422);
    let problem = json(bad).await;
    assert_eq!(problem["code"], "policy_rejected");
    assert_eq!(problem["field"], "permissions[0].constraint.leftOperand");
    offer(&w).await;
    let odrl = json(
        w.server
            .get("/api/v1/licences/pdx-dev-use-1.0/policy")
            .await,
    )
    .await;
    assert_eq!(odrl["@type"], "Set");
    assert_eq!(
        odrl["permission"][0]["constraint"][0]["operator"],
        "isAnyOf"
    );
    let not_admin = w.server.call(Method::POST, "/api/v1/licences", Some(&w.admin), Some(json!({
        "id": "x", "title": "x", "url": "https://pdx.test/x", "policy": { "permissions": [{ "action": "use" }] }
    }))).await;
    assert_eq!(not_admin.status(), 403);
}

#[tokio::test]
async fn a_request_for_chosen_distributions_grants_only_those() {
    let w = world().await;
    offer(&w).await;
    // A second file, in a new version of the dataset.
    let publisher = w.server.access_token("pub@water.test").await;
    w.server
        .call(
            Method::POST,
            "/api/v1/datasets/levels/revise",
            Some(&publisher),
            None,
        )
        .await;
    let upload = w
        .server
        .client
        .post(w.server.url("/api/v1/datasets/levels/distributions"))
        .bearer_auth(&publisher)
        .header("content-type", "text/csv")
        .body("station,flow\nA,12\n")
        .send()
        .await;
    let Ok(upload) = upload else { panic!() };
    let second = json(upload).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    w.server
        .call(
            Method::POST,
            "/api/v1/datasets/levels/submit",
            Some(&publisher),
            None,
        )
        .await;
    w.server
        .call(
            Method::POST,
            "/api/v1/datasets/levels/publish",
            Some(&w.reviewer),
            None,
        )
        .await;

    let foreign = w.server.call(Method::POST, "/api/v1/access-requests", Some(&w.enterprise), Some(json!({
        "dataset": "levels", "purpose": "research", "statement": "Flood warnings in our logistics app",
        "term_days": 30, "distributions": [pdx_core::DistributionId::new().to_string()]
    }))).await;
    assert_eq!(foreign.status(), 422);
    let request = w.server.call(Method::POST, "/api/v1/access-requests", Some(&w.enterprise), Some(json!({
        "dataset": "levels", "purpose": "research", "statement": "Flood warnings in our logistics app",
        "term_days": 30, "distributions": [second]
    }))).await;
    assert_eq!(request.status(), 201);
    let id = json(request).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let approved = json(
        w.server
            .call(
                Method::POST,
                &format!("/api/v1/access-requests/{id}/approve"),
                Some(&w.reviewer),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(approved["grant"]["distributions"], json!([second]));
    let covered = json(
        w.server
            .call(
                Method::GET,
                &format!("/api/v1/distributions/{second}/access?purpose=research"),
                Some(&w.enterprise),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(covered["decision"], "permit");
    assert_eq!(
        access(&w, Some(&w.enterprise), "research").await["reason"],
        "distribution_not_covered"
    );
}

#[tokio::test]
async fn publishers_of_the_owning_agency_set_offers_and_only_its_admins_manage_grants() {
    let w = world().await;
    offer(&w).await;
    let publisher = w.server.access_token("pub@water.test").await;
    let body = json!({
        "licence_id": "pdx-dev-use-1.0", "purposes": ["research"], "max_term_days": 90, "max_requests": 10
    });
    let by_publisher = w
        .server
        .call(
            Method::PUT,
            "/api/v1/datasets/levels/offer",
            Some(&publisher),
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        by_publisher.status(),
        200,
        "the owning agency's publisher sets the offer"
    );
    assert_eq!(json(by_publisher).await["max_requests"], 10);
    for (token, who) in [
        (&w.reviewer, "a reviewer"),
        (&w.agency, "another agency"),
        (&w.enterprise, "an enterprise"),
    ] {
        let refused = w
            .server
            .call(
                Method::PUT,
                "/api/v1/datasets/levels/offer",
                Some(token),
                Some(body.clone()),
            )
            .await;
        let status = refused.status().as_u16();
        assert!(status == 403 || status == 404, "{who}: {status}");
    }
    let approved = submit(&w, &w.enterprise, "research").await;
    let id = json(approved).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let grant = json(
        w.server
            .call(
                Method::POST,
                &format!("/api/v1/access-requests/{id}/approve"),
                Some(&w.reviewer),
                None,
            )
            .await,
    )
    .await["grant"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let suspend = format!("/api/v1/grants/{grant}/suspend");
    let by_publisher = w
        .server
        .call(Method::POST, &suspend, Some(&publisher), None)
        .await;
    let status = by_publisher.status().as_u16();
    assert!(
        status == 403 || status == 404,
        "suspending stays with the admins: {status}"
    );
    let by_admin = w
        .server
        .call(Method::POST, &suspend, Some(&w.admin), None)
        .await;
    assert_eq!(by_admin.status(), 200);
}

#[tokio::test]
async fn an_enterprise_awaiting_verification_is_told_so() {
    let w = world().await;
    offer(&w).await;
    let withdrawn = w
        .server
        .call(
            Method::PUT,
            "/api/v1/organizations/acme/verification",
            Some(&w.root),
            Some(json!({ "verified": false })),
        )
        .await;
    assert_eq!(withdrawn.status(), 200);
    let refused = submit(&w, &w.enterprise, "research").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(json(refused).await["code"], "organization_not_verified");
    let decision = access(&w, Some(&w.enterprise), "research").await;
    assert_eq!(decision["reason"], "organization_not_verified");
}

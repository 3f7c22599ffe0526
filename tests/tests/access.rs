//! Access control over real HTTP: registration and verification, sign-in, refresh rotation
//! and reuse detection, API keys, password changes, throttling and the audit trail.

use pdx_core::{OrgKind, Role};
use pdx_tests::{PASSWORD, TestServer, header, json};
use reqwest::Method;
use serde_json::json;

fn registration(email: &str, slug: &str, credit_code: &str) -> serde_json::Value {
    json!({
        "email": email,
        "password": PASSWORD,
        "display_name": "Li Wei",
        "organization_name": "Example Logistics Co., Ltd.",
        "slug": slug,
        "credit_code": credit_code,
    })
}

#[tokio::test]
async fn enterprise_registers_admin_verifies_member_signs_in_and_me_works() {
    let server = TestServer::spawn().await;
    server
        .create_user("platform", "root@pdx.test", &[Role::PlatformAdmin])
        .await;

    let registered = server
        .call(
            Method::POST,
            "/api/v1/registrations",
            None,
            Some(registration(
                "dev@logistics.test",
                "example-logistics",
                "91440300MA5F000007",
            )),
        )
        .await;
    assert_eq!(registered.status(), 201);
    let registered = json(registered).await;
    assert_eq!(registered["organization"]["verified"], false);
    assert_eq!(registered["organization"]["kind"], "enterprise");
    let org_id = registered["organization"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Unverified: invisible to the public, but the member can sign in.
    let public = server
        .call(
            Method::GET,
            "/api/v1/organizations/example-logistics",
            None,
            None,
        )
        .await;
    assert_eq!(public.status(), 404);
    let member_token = server.access_token("dev@logistics.test").await;
    let me = server
        .call(Method::GET, "/api/v1/me", Some(&member_token), None)
        .await;
    assert_eq!(me.status(), 200);
    let me = json(me).await;
    assert_eq!(me["user"]["email"], "dev@logistics.test");
    assert_eq!(me["organization_id"], org_id.as_str());
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["memberships"][0]["organization"]["verified"], false);

    let admin = server.access_token("root@pdx.test").await;
    let pending = server
        .call(
            Method::GET,
            "/api/v1/organizations?verified=false",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(pending.status(), 200);
    assert_eq!(json(pending).await["total"], 1);
    let verified = server
        .call(
            Method::PUT,
            "/api/v1/organizations/example-logistics/verification",
            Some(&admin),
            Some(json!({ "verified": true })),
        )
        .await;
    assert_eq!(verified.status(), 200);
    assert_eq!(json(verified).await["verified"], true);

    let public = server
        .call(
            Method::GET,
            &format!("/api/v1/organizations/{org_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(public.status(), 200);
    let listed = json(
        server
            .call(
                Method::GET,
                "/api/v1/organizations?kind=enterprise",
                None,
                None,
            )
            .await,
    )
    .await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["slug"], "example-logistics");
}

#[tokio::test]
async fn registration_rejects_bad_input_and_duplicates_without_partial_writes() {
    let server = TestServer::spawn().await;
    let bad_code = server
        .call(
            Method::POST,
            "/api/v1/registrations",
            None,
            Some(registration(
                "a@logistics.test",
                "a-logistics",
                "91440300MA5F000008",
            )),
        )
        .await;
    assert_eq!(bad_code.status(), 422);
    let problem = json(bad_code).await;
    assert_eq!(problem["code"], "validation_failed");
    assert_eq!(problem["field"], "credit_code");

    let mut short = registration("b@logistics.test", "b-logistics", "91440300MA5F000007");
    short["password"] = json!("short");
    let short = server
        .call(Method::POST, "/api/v1/registrations", None, Some(short))
        .await;
    assert_eq!(short.status(), 422);
    assert_eq!(json(short).await["field"], "password");

    let first = server
        .call(
            Method::POST,
            "/api/v1/registrations",
            None,
            Some(registration(
                "c@logistics.test",
                "c-logistics",
                "91440300MA5F000007",
            )),
        )
        .await;
    assert_eq!(first.status(), 201);
    // Same credit code, new e-mail and slug: refused, and no user is left behind.
    let duplicate = server
        .call(
            Method::POST,
            "/api/v1/registrations",
            None,
            Some(registration(
                "d@logistics.test",
                "d-logistics",
                "91440300MA5F000007",
            )),
        )
        .await;
    assert_eq!(duplicate.status(), 409);
    assert_eq!(json(duplicate).await["code"], "credit_code_taken");
    let orphan = server
        .token(&[
            ("grant_type", "password"),
            ("username", "d@logistics.test"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(
        orphan.status(),
        400,
        "the refused registration created no account"
    );

    let same_email = server
        .call(
            Method::POST,
            "/api/v1/registrations",
            None,
            Some(registration(
                "c@logistics.test",
                "e-logistics",
                "12100000MB0000000L",
            )),
        )
        .await;
    assert_eq!(same_email.status(), 409);
    assert_eq!(json(same_email).await["code"], "email_taken");
}

#[tokio::test]
async fn wrong_password_and_unknown_account_answer_the_same_invalid_grant() {
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    server
        .create_user("water", "clerk@water.test", &[Role::Publisher])
        .await;
    for username in ["clerk@water.test", "nobody@water.test"] {
        let response = server
            .token(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", "wrong password!"),
            ])
            .await;
        assert_eq!(response.status(), 400);
        assert_eq!(
            header(&response, "content-type").as_deref(),
            Some("application/problem+json")
        );
        let problem = json(response).await;
        assert_eq!(problem["error"], "invalid_grant");
        assert_eq!(
            problem["detail"],
            "the e-mail address or password is incorrect"
        );
    }
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_retry_after() {
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    server
        .create_user("water", "clerk@water.test", &[Role::Publisher])
        .await;
    for _ in 0..5 {
        let failed = server
            .token(&[
                ("grant_type", "password"),
                ("username", "clerk@water.test"),
                ("password", "not the password"),
            ])
            .await;
        assert_eq!(failed.status(), 400);
    }
    // Even the right password is refused while throttled: guessing cannot continue.
    let throttled = server
        .token(&[
            ("grant_type", "password"),
            ("username", "clerk@water.test"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(throttled.status(), 429);
    let retry_after: u64 = header(&throttled, "retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(json(throttled).await["code"], "too_many_requests");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    server
        .create_user("water", "clerk@water.test", &[Role::Publisher])
        .await;
    let first = server.sign_in("clerk@water.test", PASSWORD).await;
    let refresh_a = first["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(refresh_a.starts_with("pdxr_"));

    let rotated = server
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_a),
        ])
        .await;
    assert_eq!(rotated.status(), 200);
    assert_eq!(
        header(&rotated, "cache-control").as_deref(),
        Some("no-store")
    );
    let rotated = json(rotated).await;
    let refresh_b = rotated["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(refresh_a, refresh_b);
    let access = rotated["access_token"].as_str().unwrap_or_default();
    assert_eq!(
        server
            .call(Method::GET, "/api/v1/me", Some(access), None)
            .await
            .status(),
        200
    );

    // A (already used) again: refused, and B, the legitimate successor, dies with it.
    let reused = server
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_a),
        ])
        .await;
    assert_eq!(reused.status(), 400);
    assert_eq!(json(reused).await["error"], "invalid_grant");
    let successor = server
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_b),
        ])
        .await;
    assert_eq!(successor.status(), 400, "the family was revoked");

    let auditor_view = server
        .operator()
        .audit_events(
            &pdx_core::Principal {
                user: pdx_core::UserId::new(),
                org: pdx_core::OrganizationId::new(),
                org_kind: OrgKind::Platform,
                roles: [Role::Auditor].into_iter().collect(),
                token_id: String::new(),
                api_key: None,
            },
            pdx_access::audit::AuditFilter {
                kind: Some("refresh_token_reuse".into()),
                ..Default::default()
            },
            pdx_core::PageRequest::default(),
        )
        .await;
    assert_eq!(auditor_view.map(|page| page.total).ok(), Some(1));
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_family_and_access_tokens_are_not_revocable() {
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    server
        .create_user("water", "clerk@water.test", &[Role::Publisher])
        .await;
    let tokens = server.sign_in("clerk@water.test", PASSWORD).await;
    let refresh = tokens["refresh_token"].as_str().unwrap_or_default();
    let access = tokens["access_token"].as_str().unwrap_or_default();
    let revoke = |token: String| {
        let server = &server;
        async move {
            server
                .client
                .post(server.url("/api/v1/auth/revoke"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(pdx_tests::form_encode(&[("token", &token)]))
                .send()
                .await
        }
    };
    let Ok(revoked) = revoke(refresh.to_owned()).await else {
        panic!()
    };
    assert_eq!(revoked.status(), 200);
    let after = server
        .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_eq!(after.status(), 400);
    let Ok(unknown) = revoke("pdxr_unknown".to_owned()).await else {
        panic!()
    };
    assert_eq!(
        unknown.status(),
        200,
        "RFC 7009: unknown tokens are not an error"
    );
    let Ok(access_revoke) = revoke(access.to_owned()).await else {
        panic!()
    };
    assert_eq!(access_revoke.status(), 400);
    assert_eq!(json(access_revoke).await["error"], "unsupported_token_type");
}

#[tokio::test]
async fn api_key_is_exchanged_through_client_credentials_for_a_working_token() {
    let server = TestServer::spawn().await;
    server.create_org("acme", OrgKind::Enterprise).await;
    server
        .create_user("acme", "ops@acme.test", &[Role::Admin, Role::Member])
        .await;
    let token = server.access_token("ops@acme.test").await;

    let created = server
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(&token),
            Some(json!({ "name": "nightly sync", "roles": ["member"] })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created = json(created).await;
    let client_id = created["client_id"].as_str().unwrap_or_default().to_owned();
    let secret = created["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(client_id.starts_with("pdxk_") && secret.starts_with("pdxs_"));

    // The secret is never shown again.
    let listed = json(
        server
            .call(Method::GET, "/api/v1/api-keys", Some(&token), None)
            .await,
    )
    .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert!(!listed.to_string().contains(&secret));

    let exchanged = server
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ])
        .await;
    assert_eq!(exchanged.status(), 200);
    let exchanged = json(exchanged).await;
    assert!(
        exchanged.get("refresh_token").is_none(),
        "no refresh token for client credentials"
    );
    assert_eq!(exchanged["scope"], "member");
    let key_token = exchanged["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let me = json(
        server
            .call(Method::GET, "/api/v1/me", Some(&key_token), None)
            .await,
    )
    .await;
    assert_eq!(me["roles"], json!(["member"]));
    assert_eq!(me["api_key_id"], created["id"]);

    // HTTP Basic client authentication works too.
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    let with_basic = server
        .client
        .post(server.url("/api/v1/auth/token"))
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await;
    assert_eq!(with_basic.map(|r| r.status().as_u16()).ok(), Some(200));

    // A key cannot mint keys.
    let nested = server
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(&key_token),
            Some(json!({ "name": "nested" })),
        )
        .await;
    assert_eq!(nested.status(), 403);

    // Wrong secret, then revocation: invalid_client.
    let wrong = server
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", "pdxs_wrong"),
        ])
        .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(json(wrong).await["error"], "invalid_client");
    let key_id = created["id"].as_str().unwrap_or_default();
    let revoked = server
        .call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{key_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(revoked.status(), 204);
    let after = server
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ])
        .await;
    assert_eq!(after.status(), 401);
}

#[tokio::test]
async fn api_key_cannot_carry_roles_its_creator_lacks() {
    let server = TestServer::spawn().await;
    server.create_org("acme", OrgKind::Enterprise).await;
    server
        .create_user("acme", "dev@acme.test", &[Role::Member])
        .await;
    let token = server.access_token("dev@acme.test").await;
    let escalated = server
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(&token),
            Some(json!({ "name": "k", "roles": ["admin"] })),
        )
        .await;
    assert_eq!(escalated.status(), 422);
    assert_eq!(json(escalated).await["field"], "roles");
}

#[tokio::test]
async fn new_member_must_change_the_one_time_password_before_anything_else() {
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    server
        .create_user("water", "head@water.test", &[Role::Admin])
        .await;
    let admin = server.access_token("head@water.test").await;
    let added = server
        .call(
            Method::POST,
            "/api/v1/organizations/water/members",
            Some(&admin),
            Some(
                json!({ "email": "new@water.test", "display_name": "New Clerk",
                           "password": "temporary password 1", "roles": ["publisher"] }),
            ),
        )
        .await;
    assert_eq!(added.status(), 201);
    assert_eq!(json(added).await["user"]["password_change_required"], true);

    let first = server
        .sign_in("new@water.test", "temporary password 1")
        .await;
    let token = first["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let blocked = server
        .call(Method::GET, "/api/v1/api-keys", Some(&token), None)
        .await;
    assert_eq!(blocked.status(), 403);
    assert_eq!(json(blocked).await["code"], "password_change_required");
    assert_eq!(
        server
            .call(Method::GET, "/api/v1/me", Some(&token), None)
            .await
            .status(),
        200
    );

    let wrong = server
        .call(Method::POST, "/api/v1/me/password", Some(&token),
              Some(json!({ "current_password": "not it at all", "new_password": "a much better password" })))
        .await;
    assert_eq!(wrong.status(), 422);
    let changed = server
        .call(Method::POST, "/api/v1/me/password", Some(&token),
              Some(json!({ "current_password": "temporary password 1", "new_password": "a much better password" })))
        .await;
    assert_eq!(changed.status(), 204);
    let second = server
        .sign_in("new@water.test", "a much better password")
        .await;
    let token = second["access_token"].as_str().unwrap_or_default();
    assert_eq!(
        server
            .call(Method::GET, "/api/v1/api-keys", Some(token), None)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn org_admin_manages_roles_but_cannot_remove_the_last_admin_or_grant_foreign_roles() {
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    let head = server
        .create_user("water", "head@water.test", &[Role::Admin])
        .await;
    let clerk = server
        .create_user("water", "clerk@water.test", &[Role::Member])
        .await;
    let admin = server.access_token("head@water.test").await;

    let promoted = server
        .call(
            Method::PUT,
            &format!("/api/v1/organizations/water/members/{}", clerk.id),
            Some(&admin),
            Some(json!({ "roles": ["publisher", "reviewer"] })),
        )
        .await;
    assert_eq!(promoted.status(), 200);
    assert_eq!(
        json(promoted).await["roles"],
        json!(["publisher", "reviewer"])
    );
    // The clerk's next token carries the new roles.
    let refreshed = server.sign_in("clerk@water.test", PASSWORD).await;
    assert_eq!(refreshed["scope"], "publisher reviewer");

    let foreign = server
        .call(
            Method::PUT,
            &format!("/api/v1/organizations/water/members/{}", clerk.id),
            Some(&admin),
            Some(json!({ "roles": ["auditor"] })),
        )
        .await;
    assert_eq!(foreign.status(), 422);
    assert_eq!(json(foreign).await["code"], "role_not_allowed");

    let demote_self = server
        .call(
            Method::PUT,
            &format!("/api/v1/organizations/water/members/{}", head.id),
            Some(&admin),
            Some(json!({ "roles": ["member"] })),
        )
        .await;
    assert_eq!(demote_self.status(), 409);
    assert_eq!(json(demote_self).await["code"], "last_admin");

    let removed = server
        .call(
            Method::DELETE,
            &format!("/api/v1/organizations/water/members/{}", clerk.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(removed.status(), 204);
    let members = json(
        server
            .call(
                Method::GET,
                "/api/v1/organizations/water/members",
                Some(&admin),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(members.as_array().map(Vec::len), Some(1));
    // Removed from the only organisation: sign-in has nowhere to go.
    let orphan = server
        .token(&[
            ("grant_type", "password"),
            ("username", "clerk@water.test"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(orphan.status(), 400);
}

#[tokio::test]
async fn audit_trail_records_sign_ins_role_changes_and_keys() {
    let server = TestServer::spawn().await;
    server
        .create_user("platform", "auditor@pdx.test", &[Role::Auditor])
        .await;
    server.create_org("acme", OrgKind::Enterprise).await;
    server
        .create_user("acme", "ops@acme.test", &[Role::Admin])
        .await;
    let ops = server.access_token("ops@acme.test").await;
    let failed = server
        .token(&[
            ("grant_type", "password"),
            ("username", "ops@acme.test"),
            ("password", "wrong wrong wrong"),
        ])
        .await;
    assert_eq!(failed.status(), 400);
    let key = json(
        server
            .call(
                Method::POST,
                "/api/v1/api-keys",
                Some(&ops),
                Some(json!({ "name": "k" })),
            )
            .await,
    )
    .await;
    let key_id = key["id"].as_str().unwrap_or_default();
    server
        .call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{key_id}"),
            Some(&ops),
            None,
        )
        .await;

    let auditor = server.access_token("auditor@pdx.test").await;
    let trail = json(
        server
            .call(
                Method::GET,
                "/api/v1/audit-events?per_page=100",
                Some(&auditor),
                None,
            )
            .await,
    )
    .await;
    let events: Vec<(String, String)> = trail["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_owned(),
                e["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("sign_in", "success"),
        ("sign_in", "failure"),
        ("api_key_created", "success"),
        ("api_key_revoked", "success"),
        ("user_created", "success"),
        ("organization_created", "success"),
    ] {
        assert!(
            events
                .iter()
                .any(|(k, o)| k == expected.0 && o == expected.1),
            "{expected:?} missing from {events:?}"
        );
    }
    let failure = trail["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["kind"] == "sign_in" && e["outcome"] == "failure");
    assert!(
        failure.is_some_and(|e| e["client_address"] == "127.0.0.1" && e["request_id"].is_string())
    );

    let only_keys = json(
        server
            .call(
                Method::GET,
                "/api/v1/audit-events?kind=api_key_created",
                Some(&auditor),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(only_keys["total"], 1);
    let denied = server
        .call(Method::GET, "/api/v1/audit-events", Some(&ops), None)
        .await;
    assert_eq!(denied.status(), 403);
    assert_eq!(json(denied).await["check"], "read_audit");
}

#[tokio::test]
async fn discovery_documents_point_at_the_token_endpoint_and_keys() {
    let server = TestServer::spawn().await;
    let metadata = json(server.get("/.well-known/oauth-authorization-server").await).await;
    assert_eq!(metadata["issuer"], server.base_url.as_str());
    assert_eq!(
        metadata["token_endpoint"],
        format!("{}/api/v1/auth/token", server.base_url)
    );
    let jwks = json(server.get("/.well-known/jwks.json").await).await;
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
}

#[tokio::test]
async fn unsupported_grant_and_missing_fields_answer_oauth_errors() {
    let server = TestServer::spawn().await;
    let unsupported = server
        .token(&[("grant_type", "authorization_code"), ("code", "x")])
        .await;
    assert_eq!(unsupported.status(), 400);
    assert_eq!(json(unsupported).await["error"], "unsupported_grant_type");
    let missing = server
        .token(&[("grant_type", "password"), ("username", "a@b.test")])
        .await;
    assert_eq!(missing.status(), 400);
    assert_eq!(json(missing).await["error"], "invalid_request");
    let json_body = server.client.post(server.url("/api/v1/auth/token"))
        .json(&json!({ "grant_type": "password", "username": "a@b.test", "password": "whatever it is" }))
        .send().await;
    assert_eq!(
        json_body.map(|r| r.status().as_u16()).ok(),
        Some(400),
        "JSON bodies are understood too"
    );
}

async fn status_of(base: &str, server: &TestServer, token: &str) -> u16 {
    server
        .client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Waits until the sibling refuses `token`; the revocation reaches other processes within a
/// moment (they follow the database), not only the one that made it.
async fn refused_on(base: &str, server: &TestServer, token: &str) -> bool {
    for _ in 0..100 {
        if status_of(base, server, token).await == 401 {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_removed_members_tokens_stop_working_at_once_on_every_server() {
    let server = TestServer::spawn().await;
    let other = server.sibling().await;
    server.create_org("acme", OrgKind::Enterprise).await;
    server
        .create_user("acme", "boss@acme.test", &[Role::Admin])
        .await;
    let leaver = server
        .create_user("acme", "leaver@acme.test", &[Role::Member])
        .await;
    let demoted = server
        .create_user("acme", "demoted@acme.test", &[Role::Admin, Role::Member])
        .await;
    let admin = server.access_token("boss@acme.test").await;
    let leaving = server.access_token("leaver@acme.test").await;
    let demoting = server.access_token("demoted@acme.test").await;
    for token in [&leaving, &demoting] {
        assert_eq!(status_of(&server.base_url, &server, token).await, 200);
        assert_eq!(status_of(&other.base_url, &server, token).await, 200);
    }
    let removed = server
        .call(
            Method::DELETE,
            &format!("/api/v1/organizations/acme/members/{}", leaver.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(removed.status(), 204);
    let refused = server
        .call(Method::GET, "/api/v1/me", Some(&leaving), None)
        .await;
    assert_eq!(refused.status(), 401, "the next request on the same server");
    assert_eq!(json(refused).await["code"], "invalid_token");
    assert!(
        refused_on(&other.base_url, &server, &leaving).await,
        "and on the other server"
    );

    // A token carries its roles: after a change they must be asked for again.
    let changed = server
        .call(
            Method::PUT,
            &format!("/api/v1/organizations/acme/members/{}", demoted.id),
            Some(&admin),
            Some(json!({ "roles": ["member"] })),
        )
        .await;
    assert_eq!(changed.status(), 200);
    assert_eq!(status_of(&server.base_url, &server, &demoting).await, 401);
    assert!(refused_on(&other.base_url, &server, &demoting).await);
    let fresh = server.access_token("demoted@acme.test").await;
    assert_eq!(
        status_of(&server.base_url, &server, &fresh).await,
        200,
        "a new token works at once"
    );
    let me = json(
        server
            .call(Method::GET, "/api/v1/me", Some(&fresh), None)
            .await,
    )
    .await;
    assert_eq!(me["roles"], json!(["member"]));
}

#[tokio::test]
async fn a_revoked_api_keys_tokens_and_a_changed_passwords_sessions_stop_working() {
    let server = TestServer::spawn().await;
    let other = server.sibling().await;
    server.create_org("acme", OrgKind::Enterprise).await;
    server
        .create_user("acme", "ops@acme.test", &[Role::Admin, Role::Member])
        .await;
    let signed_in = server.sign_in("ops@acme.test", PASSWORD).await;
    let token = signed_in["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let refresh = signed_in["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let created = json(
        server
            .call(
                Method::POST,
                "/api/v1/api-keys",
                Some(&token),
                Some(json!({ "name": "sync" })),
            )
            .await,
    )
    .await;
    let key_token = json(
        server
            .token(&[
                ("grant_type", "client_credentials"),
                (
                    "client_id",
                    created["client_id"].as_str().unwrap_or_default(),
                ),
                (
                    "client_secret",
                    created["client_secret"].as_str().unwrap_or_default(),
                ),
            ])
            .await,
    )
    .await["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(status_of(&other.base_url, &server, &key_token).await, 200);
    let revoked = server
        .call(
            Method::DELETE,
            &format!(
                "/api/v1/api-keys/{}",
                created["id"].as_str().unwrap_or_default()
            ),
            Some(&token),
            None,
        )
        .await;
    assert!(revoked.status().is_success(), "{}", revoked.status());
    assert_eq!(status_of(&server.base_url, &server, &key_token).await, 401);
    assert!(refused_on(&other.base_url, &server, &key_token).await);
    assert_eq!(
        status_of(&server.base_url, &server, &token).await,
        200,
        "the user's own token is not the key's"
    );

    let changed = server
        .call(
            Method::POST,
            "/api/v1/me/password",
            Some(&token),
            Some(json!({ "current_password": PASSWORD, "new_password": "a-brand-new-passphrase" })),
        )
        .await;
    assert!(changed.status().is_success(), "{}", changed.status());
    assert_eq!(
        status_of(&server.base_url, &server, &token).await,
        401,
        "the old session ends"
    );
    assert!(refused_on(&other.base_url, &server, &token).await);
    let refreshed = server
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(refreshed.status(), 400, "its refresh token too");
    let again = server
        .sign_in("ops@acme.test", "a-brand-new-passphrase")
        .await;
    let again = again["access_token"].as_str().unwrap_or_default();
    assert_eq!(
        status_of(&server.base_url, &server, again).await,
        200,
        "a new sign-in works at once"
    );
}

//! Access control over real HTTP: registration confirmed by e-mail and verification,
//! invitations, password resets, sign-in, refresh rotation and reuse detection, API keys,
//! password changes, throttling and the audit trail.

use pdx_core::{OrgKind, Role};
use pdx_tests::{PASSWORD, TestServer, expect_problem, header, json};
use reqwest::Method;
use serde_json::json;

fn registration(email: &str, slug: &str, credit_code: &str) -> serde_json::Value {
    json!({
        "email": email,
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
        .register_enterprise(
            "dev@logistics.test",
            "example-logistics",
            "91440300MA5F000007",
        )
        .await;
    assert_eq!(registered["organization"]["verified"], false);
    assert_eq!(registered["organization"]["kind"], "enterprise");
    assert!(registered["user"]["email_confirmed_at"].is_string());
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

async fn register(server: &TestServer, body: serde_json::Value) -> reqwest::Response {
    server
        .call(Method::POST, "/api/v1/registrations", None, Some(body))
        .await
}

async fn post(server: &TestServer, path: &str, body: serde_json::Value) -> reqwest::Response {
    server.call(Method::POST, path, None, Some(body)).await
}

async fn sign_in_status(server: &TestServer, email: &str, password: &str) -> u16 {
    server
        .token(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", password),
        ])
        .await
        .status()
        .as_u16()
}

async fn audit_trail(server: &TestServer, kind: &str) -> Vec<serde_json::Value> {
    let page = server
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
                kind: Some(kind.into()),
                ..Default::default()
            },
            pdx_core::PageRequest::default(),
        )
        .await;
    let Ok(page) = page else {
        panic!("audit trail: {page:?}")
    };
    page.items
        .into_iter()
        .map(|event| serde_json::to_value(event).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Runs SQL against the server's database (to move a token's clock, not its logic).
fn execute(server: &TestServer, sql: &str) {
    use diesel::RunQueryDsl;
    let Ok(mut conn) = server.database.database().conn() else {
        panic!("no connection")
    };
    if let Err(error) = diesel::sql_query(sql).execute(&mut conn) {
        panic!("{sql}: {error}");
    }
}

#[tokio::test]
async fn registration_creates_nothing_until_its_one_time_link_is_followed() {
    let server = TestServer::spawn().await;
    let requested = register(
        &server,
        registration(
            "dev@logistics.test",
            "example-logistics",
            "91440300MA5F000007",
        ),
    )
    .await;
    assert_eq!(requested.status(), 202);
    assert_eq!(json(requested).await["status"], "check_email");

    // Nothing exists yet: no account to sign in to, no organisation holding the slug.
    assert_eq!(
        sign_in_status(&server, "dev@logistics.test", PASSWORD).await,
        400
    );
    let mail = server
        .wait_for_mail("dev@logistics.test", "Confirm your e-mail", 1)
        .await;
    let link = format!("{}/confirm?token=", server.base_url);
    assert!(mail.body.contains(&link), "{}", mail.body);
    let token = mail.token();
    assert!(token.starts_with("pdxo_"), "{token}");

    let short = post(
        &server,
        "/api/v1/registrations/confirm",
        json!({ "token": token, "password": "short" }),
    )
    .await;
    assert_eq!(json(short).await["field"], "password");
    let confirmed = post(
        &server,
        "/api/v1/registrations/confirm",
        json!({ "token": token, "password": PASSWORD }),
    )
    .await;
    assert_eq!(confirmed.status(), 201);
    assert_eq!(json(confirmed).await["user"]["email"], "dev@logistics.test");
    assert_eq!(
        sign_in_status(&server, "dev@logistics.test", PASSWORD).await,
        200
    );

    // The link works once: a replay, even with another password, is refused.
    let replay = post(
        &server,
        "/api/v1/registrations/confirm",
        json!({ "token": token, "password": "another long password" }),
    )
    .await;
    expect_problem(replay, 410, "link_used").await;
    assert_eq!(
        sign_in_status(&server, "dev@logistics.test", "another long password").await,
        400
    );
    let recorded = audit_trail(&server, "registration_requested").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["detail"]["email_known"], false);
    assert_eq!(audit_trail(&server, "enterprise_registered").await.len(), 1);
}

#[tokio::test]
async fn registration_answers_a_taken_address_alike_and_tells_its_owner_instead() {
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    server
        .create_user("water", "clerk@water.test", &[Role::Publisher])
        .await;
    let fresh = register(
        &server,
        registration("new@logistics.test", "new-logistics", "91440300MA5F000007"),
    )
    .await;
    let taken = register(
        &server,
        registration("clerk@water.test", "other-logistics", "12100000MB0000000L"),
    )
    .await;
    assert_eq!(
        (fresh.status().as_u16(), taken.status().as_u16()),
        (202, 202)
    );
    assert_eq!(json(fresh).await, json(taken).await, "the same answer");

    let notice = server
        .wait_for_mail("clerk@water.test", "Someone tried to register", 1)
        .await;
    assert!(!notice.body.contains("token="), "{}", notice.body);
    assert!(notice.body.contains("/password-reset"), "{}", notice.body);
    assert!(server.mail_to("clerk@water.test", "Confirm").is_empty());
    // The owner's account is untouched.
    assert_eq!(
        sign_in_status(&server, "clerk@water.test", PASSWORD).await,
        200
    );
    let recorded = audit_trail(&server, "registration_requested").await;
    assert!(
        recorded
            .iter()
            .any(|e| e["subject"] == "clerk@water.test" && e["detail"]["email_known"] == true),
        "{recorded:?}"
    );
}

#[tokio::test]
async fn registration_rejects_bad_input_and_taken_organisations() {
    let server = TestServer::spawn().await;
    let bad_code = register(
        &server,
        registration("a@logistics.test", "a-logistics", "91440300MA5F000008"),
    )
    .await;
    let problem = expect_problem(bad_code, 422, "validation_failed").await;
    assert_eq!(problem["field"], "credit_code");

    // The password is chosen by whoever follows the link, never in the registration.
    let mut with_password = registration("b@logistics.test", "b-logistics", "91440300MA5F000007");
    with_password["password"] = json!(PASSWORD);
    let refused = register(&server, with_password).await;
    expect_problem(refused, 422, "invalid_body").await;

    server
        .register_enterprise("c@logistics.test", "c-logistics", "91440300MA5F000007")
        .await;
    let same_code = register(
        &server,
        registration("d@logistics.test", "d-logistics", "91440300MA5F000007"),
    )
    .await;
    expect_problem(same_code, 409, "credit_code_taken").await;
    let same_slug = register(
        &server,
        registration("e@logistics.test", "c-logistics", "12100000MB0000000L"),
    )
    .await;
    expect_problem(same_slug, 409, "slug_taken").await;
}

#[tokio::test]
async fn one_time_links_are_bound_to_their_purpose_and_expire() {
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    server
        .create_user("water", "clerk@water.test", &[Role::Publisher])
        .await;
    register(
        &server,
        registration(
            "dev@logistics.test",
            "example-logistics",
            "91440300MA5F000007",
        ),
    )
    .await;
    let confirmation = server
        .wait_for_mail("dev@logistics.test", "Confirm", 1)
        .await
        .token();
    post(
        &server,
        "/api/v1/password-resets",
        json!({ "email": "clerk@water.test" }),
    )
    .await;
    let reset = server
        .wait_for_mail("clerk@water.test", "Reset your PDX password", 1)
        .await
        .token();

    // A token is unknown outside its purpose: a reset link cannot confirm a registration,
    // a confirmation link cannot reset a password or accept an invitation.
    let crossed = post(
        &server,
        "/api/v1/registrations/confirm",
        json!({ "token": reset, "password": PASSWORD }),
    )
    .await;
    expect_problem(crossed, 422, "link_invalid").await;
    for path in ["/api/v1/password-resets/complete"] {
        let crossed = post(
            &server,
            path,
            json!({ "token": confirmation, "new_password": PASSWORD }),
        )
        .await;
        expect_problem(crossed, 422, "link_invalid").await;
    }
    let crossed = post(
        &server,
        "/api/v1/invitations/accept",
        json!({ "token": confirmation, "display_name": "X", "password": PASSWORD }),
    )
    .await;
    expect_problem(crossed, 422, "link_invalid").await;
    let forged = post(
        &server,
        "/api/v1/registrations/confirm",
        json!({ "token": "pdxo_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "password": PASSWORD }),
    )
    .await;
    expect_problem(forged, 422, "link_invalid").await;

    execute(
        &server,
        "UPDATE account_tokens SET expires_at = '2000-01-01 00:00:00'",
    );
    let expired = post(
        &server,
        "/api/v1/registrations/confirm",
        json!({ "token": confirmation, "password": PASSWORD }),
    )
    .await;
    expect_problem(expired, 410, "link_expired").await;
    let expired = post(
        &server,
        "/api/v1/password-resets/complete",
        json!({ "token": reset, "new_password": "a different passphrase" }),
    )
    .await;
    expect_problem(expired, 410, "link_expired").await;
    assert_eq!(
        sign_in_status(&server, "clerk@water.test", PASSWORD).await,
        200,
        "the password is unchanged"
    );
}

#[tokio::test]
async fn resending_a_confirmation_replaces_its_link_at_most_once_a_minute() {
    let server = TestServer::spawn().await;
    register(
        &server,
        registration(
            "dev@logistics.test",
            "example-logistics",
            "91440300MA5F000007",
        ),
    )
    .await;
    let first = server
        .wait_for_mail("dev@logistics.test", "Confirm", 1)
        .await
        .token();
    let resend = || {
        post(
            &server,
            "/api/v1/registrations/resend",
            json!({ "email": "dev@logistics.test" }),
        )
    };
    let at_once = resend().await;
    assert_eq!(at_once.status(), 202);
    let unknown = post(
        &server,
        "/api/v1/registrations/resend",
        json!({ "email": "nobody@logistics.test" }),
    )
    .await;
    assert_eq!(json(at_once).await, json(unknown).await, "the same answer");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        server.mail_to("dev@logistics.test", "Confirm").len(),
        1,
        "not again within a minute"
    );

    execute(
        &server,
        "UPDATE account_tokens SET sent_at = '2000-01-01 00:00:00'",
    );
    assert_eq!(resend().await.status(), 202);
    let second = server
        .wait_for_mail("dev@logistics.test", "Confirm", 2)
        .await
        .token();
    assert_ne!(first, second);
    let old = post(
        &server,
        "/api/v1/registrations/confirm",
        json!({ "token": first, "password": PASSWORD }),
    )
    .await;
    expect_problem(old, 422, "link_invalid").await;
    let new = post(
        &server,
        "/api/v1/registrations/confirm",
        json!({ "token": second, "password": PASSWORD }),
    )
    .await;
    assert_eq!(new.status(), 201);
    assert_eq!(audit_trail(&server, "confirmation_resent").await.len(), 1);
}

#[tokio::test]
async fn a_password_reset_by_link_ends_every_session_of_the_account() {
    let server = TestServer::spawn().await;
    let other = server.sibling().await;
    server.create_org("acme", OrgKind::Enterprise).await;
    server
        .create_user("acme", "ops@acme.test", &[Role::Admin])
        .await;
    let session = server.sign_in("ops@acme.test", PASSWORD).await;
    let access = session["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let refresh = session["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let asked = post(
        &server,
        "/api/v1/password-resets",
        json!({ "email": "ops@acme.test" }),
    )
    .await;
    let unknown = post(
        &server,
        "/api/v1/password-resets",
        json!({ "email": "nobody@acme.test" }),
    )
    .await;
    assert_eq!(
        (asked.status().as_u16(), unknown.status().as_u16()),
        (202, 202)
    );
    assert_eq!(json(asked).await, json(unknown).await, "the same answer");
    let mail = server
        .wait_for_mail("ops@acme.test", "Reset your PDX password", 1)
        .await;
    assert!(
        mail.body
            .contains(&format!("{}/password-reset?token=", server.base_url))
    );
    let token = mail.token();

    let short = post(
        &server,
        "/api/v1/password-resets/complete",
        json!({ "token": token, "new_password": "short" }),
    )
    .await;
    expect_problem(short, 422, "validation_failed").await;
    let reset = post(
        &server,
        "/api/v1/password-resets/complete",
        json!({ "token": token, "new_password": "a brand new passphrase" }),
    )
    .await;
    assert_eq!(reset.status(), 204);

    assert_eq!(status_of(&server.base_url, &server, &access).await, 401);
    assert!(refused_on(&other.base_url, &server, &access).await);
    let refreshed = server
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(refreshed.status(), 400, "its refresh tokens end too");
    assert_eq!(
        sign_in_status(&server, "ops@acme.test", PASSWORD).await,
        400
    );
    assert_eq!(
        sign_in_status(&server, "ops@acme.test", "a brand new passphrase").await,
        200
    );
    let replay = post(
        &server,
        "/api/v1/password-resets/complete",
        json!({ "token": token, "new_password": "the attacker's passphrase" }),
    )
    .await;
    expect_problem(replay, 410, "link_used").await;
    server
        .wait_for_mail("ops@acme.test", "Your PDX password was changed", 1)
        .await;
    assert_eq!(audit_trail(&server, "password_reset").await.len(), 1);
    let probes = audit_trail(&server, "password_reset_requested").await;
    assert!(
        probes
            .iter()
            .any(|e| e["outcome"] == "failure" && e["detail"]["reason"] == "no_account")
    );
}

#[tokio::test]
async fn an_invitation_to_a_new_address_creates_the_account_when_its_holder_accepts() {
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    server
        .create_user("water", "head@water.test", &[Role::Admin])
        .await;
    let admin = server.access_token("head@water.test").await;
    // An admin cannot choose a password for anyone.
    let with_password = server
        .call(
            Method::POST,
            "/api/v1/organizations/water/members",
            Some(&admin),
            Some(
                json!({ "email": "new@water.test", "password": "temporary password 1",
                         "roles": ["publisher"] }),
            ),
        )
        .await;
    expect_problem(with_password, 422, "invalid_body").await;
    let invited = server
        .call(
            Method::POST,
            "/api/v1/organizations/water/members",
            Some(&admin),
            Some(json!({ "email": "New@Water.test", "roles": ["publisher"] })),
        )
        .await;
    assert_eq!(invited.status(), 202);
    let invitation = json(invited).await;
    assert_eq!(invitation["status"], "pending");
    assert_eq!(invitation["email"], "new@water.test");
    assert_eq!(
        sign_in_status(&server, "new@water.test", "temporary password 1").await,
        400
    );

    let mail = server
        .wait_for_mail("new@water.test", "You are invited to join", 1)
        .await;
    assert!(
        mail.body.contains("choose your name and password"),
        "{}",
        mail.body
    );
    assert!(
        mail.body
            .contains(&format!("{}/invitations/accept?token=", server.base_url))
    );
    let token = mail.token();
    let nameless = post(
        &server,
        "/api/v1/invitations/accept",
        json!({ "token": token, "password": PASSWORD }),
    )
    .await;
    assert_eq!(json(nameless).await["field"], "display_name");
    let accepted = post(
        &server,
        "/api/v1/invitations/accept",
        json!({ "token": token, "display_name": "New Clerk", "password": PASSWORD }),
    )
    .await;
    assert_eq!(accepted.status(), 200);
    let accepted = json(accepted).await;
    assert_eq!(accepted["account_created"], true);
    assert_eq!(accepted["roles"], json!(["publisher"]));
    assert_eq!(accepted["user"]["password_change_required"], false);
    let replay = post(
        &server,
        "/api/v1/invitations/accept",
        json!({ "token": token, "display_name": "Someone", "password": "another long password" }),
    )
    .await;
    expect_problem(replay, 410, "link_used").await;

    let signed_in = server.sign_in("new@water.test", PASSWORD).await;
    assert_eq!(signed_in["scope"], "publisher");
    let listed = json(
        server
            .call(
                Method::GET,
                "/api/v1/organizations/water/invitations",
                Some(&admin),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(listed[0]["status"], "used");
    assert!(listed[0]["accepted_at"].is_string());
    for kind in ["invitation_created", "invitation_accepted"] {
        assert_eq!(audit_trail(&server, kind).await.len(), 1, "{kind}");
    }
}

#[tokio::test]
async fn an_existing_account_joins_only_when_its_holder_accepts_and_keeps_its_password() {
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    server.create_org("roads", OrgKind::Agency).await;
    server
        .create_user("water", "head@water.test", &[Role::Admin])
        .await;
    server
        .create_user("roads", "clerk@roads.test", &[Role::Member])
        .await;
    let admin = server.access_token("head@water.test").await;
    let invite = |email: &'static str| {
        server.call(
            Method::POST,
            "/api/v1/organizations/water/members",
            Some(&admin),
            Some(json!({ "email": email, "roles": ["reviewer"] })),
        )
    };
    let invited = json(invite("clerk@roads.test").await).await;
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
    assert_eq!(
        members.as_array().map(Vec::len),
        Some(1),
        "not a member before accepting"
    );
    let mail = server
        .wait_for_mail("clerk@roads.test", "You are invited to join", 1)
        .await;
    assert!(mail.body.contains("existing PDX account"), "{}", mail.body);

    // A second invitation replaces the first: the first link stops working.
    execute(
        &server,
        "UPDATE account_tokens SET sent_at = '2000-01-01 00:00:00'",
    );
    let resent = server
        .call(
            Method::POST,
            &format!(
                "/api/v1/organizations/water/invitations/{}/resend",
                invited["id"].as_str().unwrap_or_default()
            ),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(resent.status(), 200);
    let again = server
        .call(
            Method::POST,
            &format!(
                "/api/v1/organizations/water/invitations/{}/resend",
                invited["id"].as_str().unwrap_or_default()
            ),
            Some(&admin),
            None,
        )
        .await;
    let throttled = expect_problem(again, 429, "too_many_requests").await;
    assert!(throttled["detail"].is_string());
    let stale = post(
        &server,
        "/api/v1/invitations/accept",
        json!({ "token": mail.token() }),
    )
    .await;
    expect_problem(stale, 422, "link_invalid").await;
    let token = server
        .wait_for_mail("clerk@roads.test", "You are invited to join", 2)
        .await
        .token();
    // A password sent along is not the account's new password: nobody but its holder sets it.
    let accepted = post(
        &server,
        "/api/v1/invitations/accept",
        json!({ "token": token, "display_name": "Mallory", "password": "chosen by someone else" }),
    )
    .await;
    assert_eq!(accepted.status(), 200);
    let accepted = json(accepted).await;
    assert_eq!(accepted["account_created"], false);
    assert_eq!(accepted["user"]["display_name"], "clerk@roads.test");
    assert_eq!(
        sign_in_status(&server, "clerk@roads.test", "chosen by someone else").await,
        400
    );
    let in_water = server
        .token(&[
            ("grant_type", "password"),
            ("username", "clerk@roads.test"),
            ("password", PASSWORD),
            ("organization", "water"),
        ])
        .await;
    assert_eq!(json(in_water).await["scope"], "reviewer");
    expect_problem(invite("clerk@roads.test").await, 409, "already_member").await;

    // A withdrawn invitation's link is dead.
    let withdrawn = json(invite("late@water.test").await).await;
    let id = withdrawn["id"].as_str().unwrap_or_default();
    let revoked = server
        .call(
            Method::DELETE,
            &format!("/api/v1/organizations/water/invitations/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(revoked.status(), 204);
    let late = server
        .wait_for_mail("late@water.test", "You are invited", 1)
        .await
        .token();
    let dead = post(
        &server,
        "/api/v1/invitations/accept",
        json!({ "token": late, "display_name": "Late", "password": PASSWORD }),
    )
    .await;
    expect_problem(dead, 422, "link_invalid").await;
    let twice = server
        .call(
            Method::DELETE,
            &format!("/api/v1/organizations/water/invitations/{id}"),
            Some(&admin),
            None,
        )
        .await;
    expect_problem(twice, 409, "invitation_not_pending").await;
    // Another organisation's admin cannot see or touch it.
    server
        .create_user("roads", "head@roads.test", &[Role::Admin])
        .await;
    let roads = server.access_token("head@roads.test").await;
    let foreign = server
        .call(
            Method::DELETE,
            &format!("/api/v1/organizations/roads/invitations/{id}"),
            Some(&roads),
            None,
        )
        .await;
    expect_problem(foreign, 404, "not_found").await;
}

#[tokio::test]
async fn account_requests_are_throttled_per_address_before_any_work() {
    let server = TestServer::spawn_with(|config| {
        config.auth.account_requests_per_address_per_hour = 3;
        config.http.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let from = |address: &'static str, path: &'static str, body: serde_json::Value| {
        server
            .client
            .post(server.url(path))
            .header("x-forwarded-for", address)
            .json(&body)
            .send()
    };
    for i in 0..3 {
        let sent = from(
            "203.0.113.9",
            "/api/v1/registrations",
            registration(
                &format!("u{i}@flood.test"),
                &format!("flood-{i}"),
                "91440300MA5F000007",
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sent.status(), 202);
    }
    for path in ["/api/v1/registrations", "/api/v1/password-resets"] {
        let body = if path.ends_with("registrations") {
            registration("u9@flood.test", "flood-9", "91440300MA5F000007")
        } else {
            json!({ "email": "u9@flood.test" })
        };
        let refused = from("203.0.113.9", path, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let retry_after: u64 = header(&refused, "retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!((1..=3600).contains(&retry_after), "{retry_after}");
        expect_problem(refused, 429, "too_many_requests").await;
    }
    let elsewhere = from(
        "198.51.100.7",
        "/api/v1/password-resets",
        json!({ "email": "u9@flood.test" }),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(elsewhere.status(), 202, "other addresses are not affected");
    let throttled: Vec<_> = audit_trail(&server, "registration_requested")
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "failure")
        .collect();
    assert_eq!(
        throttled.len(),
        1,
        "recorded once per throttling: {throttled:?}"
    );
    assert_eq!(throttled[0]["detail"]["reason"], "throttled");
    assert_eq!(throttled[0]["client_address"], "203.0.113.9");
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
async fn sign_in_failures_slow_down_one_address_on_every_server_without_locking_the_owner_out() {
    let server = TestServer::spawn_with(|config| {
        config.http.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let other = server.sibling().await;
    server.create_org("water", OrgKind::Agency).await;
    server
        .create_user("water", "clerk@water.test", &[Role::Publisher])
        .await;
    let attempt = |base: &str, address: &'static str, password: &'static str| {
        server
            .client
            .post(format!("{base}/api/v1/auth/token"))
            .header("x-forwarded-for", address)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(pdx_tests::form_encode(&[
                ("grant_type", "password"),
                ("username", "clerk@water.test"),
                ("password", password),
            ]))
            .send()
    };
    // Guesses spread over two servers behind one load balancer count together: the pair's
    // failures are in the database, not in either process.
    for i in 0..5 {
        let base = if i % 2 == 0 {
            &server.base_url
        } else {
            &other.base_url
        };
        let failed = attempt(base, "203.0.113.9", "not the password")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(failed.status(), 400);
    }
    // From the guessing address even the right password must wait, on either server:
    // guessing cannot go on …
    for base in [&server.base_url, &server.base_url, &other.base_url] {
        let throttled = attempt(base, "203.0.113.9", PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(header(&throttled, "retry-after").as_deref(), Some("1"));
        expect_problem(throttled, 429, "too_many_requests").await;
    }
    // … but the account is not locked: its owner signs in from elsewhere.
    let owner = attempt(&other.base_url, "198.51.100.7", PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(owner.status(), 200);
    let throttled: Vec<_> = audit_trail(&server, "sign_in")
        .await
        .into_iter()
        .filter(|e| e["detail"]["reason"] == "throttled")
        .collect();
    assert_eq!(
        throttled.len(),
        2,
        "one entry per throttling and server, not per attempt"
    );
    assert_eq!(throttled[0]["outcome"], "failure");
    assert_eq!(throttled[0]["client_address"], "203.0.113.9");
    assert_eq!(throttled[0]["subject"], "clerk@water.test");
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
async fn operator_made_account_must_change_its_one_time_password_before_anything_else() {
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    server
        .create_user("water", "head@water.test", &[Role::Admin])
        .await;
    // An operator's account with a one-time password (`pdx admin create-user` without
    // --password-stdin).
    let created = server
        .operator()
        .create_user_as_operator(
            "water",
            "new@water.test",
            "New Clerk",
            "temporary password 1",
            vec![Role::Publisher],
            true,
        )
        .await;
    assert!(created.is_ok_and(|user| user.password_change_required));

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
    // An organisation is named by its slug as well as by its id.
    let by_slug = json(
        server
            .call(
                Method::GET,
                "/api/v1/audit-events?kind=api_key_created&actor_organization_id=acme",
                Some(&auditor),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(by_slug["total"], 1, "{by_slug}");
    let nobody = json(
        server
            .call(
                Method::GET,
                "/api/v1/audit-events?actor_organization_id=no-such-org",
                Some(&auditor),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(nobody["total"], 0);
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

#[tokio::test]
async fn an_address_guessing_passwords_is_refused_by_every_server_once_over_its_limit() {
    let server = TestServer::spawn_with(|config| {
        config.http.trusted_proxies = vec!["127.0.0.1".into()];
        config.auth.login_failures_per_address = 3;
    })
    .await;
    let other = server.sibling().await;
    server.create_org("water", OrgKind::Agency).await;
    for i in 0..4 {
        server
            .create_user("water", &format!("clerk{i}@water.test"), &[Role::Publisher])
            .await;
    }
    let attempt = |base: String, account: String, password: &'static str| {
        server
            .client
            .post(format!("{base}/api/v1/auth/token"))
            .header("x-forwarded-for", "203.0.113.77")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(pdx_tests::form_encode(&[
                ("grant_type", "password"),
                ("username", &account),
                ("password", password),
            ]))
            .send()
    };
    // Three wrong passwords for three accounts through the first server…
    for i in 0..3 {
        let failed = attempt(
            server.base_url.clone(),
            format!("clerk{i}@water.test"),
            "wrong",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(failed.status(), 400);
    }
    // …and once the servers have exchanged their counts, the second refuses the address too,
    // even for an account it never saw guessed.
    // They exchange every second; a loaded machine may take a few. A sign-in that still
    // succeeds counts no failure, so asking again changes nothing.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let refused = loop {
        let answer = attempt(other.base_url.clone(), "clerk3@water.test".into(), PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if answer.status() == 429 || std::time::Instant::now() > deadline {
            break answer;
        }
        assert_eq!(answer.status(), 200, "not yet refused, so signed in");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert!(header(&refused, "retry-after").is_some());
    expect_problem(refused, 429, "too_many_requests").await;
}

/// (attempts, sealed text, last error) of each message waiting in the mail queue.
fn mail_queue(server: &TestServer) -> Vec<(i32, String, Option<String>)> {
    use diesel::prelude::*;
    use pdx_storage::schema::mail_outbox;
    let Ok(mut conn) = server.database.database().conn() else {
        panic!("no connection")
    };
    match mail_outbox::table
        .select((
            mail_outbox::attempts,
            mail_outbox::sealed,
            mail_outbox::last_error,
        ))
        .load(&mut conn)
    {
        Ok(rows) => rows,
        Err(error) => panic!("cannot read the mail queue: {error}"),
    }
}

#[tokio::test]
async fn a_reset_link_waits_out_a_relay_outage_sealed_and_is_sent_by_smtp_when_it_is_back() {
    use pdx_tests::relay::{Relay, unused_port};
    let port = unused_port();
    let server = TestServer::spawn_with(|c| {
        c.mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
    })
    .await;
    server.create_org("acme", OrgKind::Enterprise).await;
    server
        .create_user("acme", "ops@acme.test", &[Role::Admin])
        .await;
    let asked = post(
        &server,
        "/api/v1/password-resets",
        json!({ "email": "ops@acme.test" }),
    )
    .await;
    assert_eq!(asked.status(), 202, "answered at once, relay or not");

    // The relay is down: the first attempt fails and the message waits for the next, sealed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let waiting = loop {
        let queue = mail_queue(&server);
        if queue.iter().any(|(attempts, _, _)| *attempts >= 1) {
            break queue;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed attempt recorded: {queue:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    let (_, sealed, error) = &waiting[0];
    for secret in ["ops@acme.test", "pdxo_", "password-reset"] {
        assert!(!sealed.contains(secret), "{secret} readable in the queue");
    }
    assert!(
        error.is_some(),
        "the relay's failure is kept for the operator"
    );

    // The relay comes back on its address; the next attempt hands it the message.
    let relay = Relay::start(port).await;
    let relayed = relay.wait_for(1, 20).await;
    assert_eq!(relayed[0].to, vec!["ops@acme.test".to_owned()]);
    assert_eq!(relayed[0].from, "no-reply@pdx.local");
    let mail = relayed[0].mail();
    assert_eq!(mail.subject, "Reset your PDX password");
    let reset = post(
        &server,
        "/api/v1/password-resets/complete",
        json!({ "token": mail.token(), "new_password": "a brand new passphrase" }),
    )
    .await;
    assert_eq!(reset.status(), 204, "the link sent late still works");
    assert_eq!(
        sign_in_status(&server, "ops@acme.test", "a brand new passphrase").await,
        200
    );
    // The notice of the change follows through the relay, and the queue empties.
    let relayed = relay.wait_for(2, 10).await;
    assert_eq!(relayed[1].mail().subject, "Your PDX password was changed");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !mail_queue(&server).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "sent mail stays queued"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

//! The access service on a real database (SQLite, or PostgreSQL per PDX_TEST_DATABASE_URL):
//! bootstrap, one-time passwords, and concurrent refresh-token rotation.

use pdx_access::{AccessError, AccessService, RequestContext};
use pdx_core::{OrgKind, Role};
use pdx_storage::testing::TestDatabase;

struct Harness {
    access: AccessService,
    _db: TestDatabase,
    _keys: tempfile::TempDir,
}

fn harness() -> Harness {
    let db = TestDatabase::new();
    let Ok(keys) = tempfile::tempdir() else {
        panic!("tempdir")
    };
    let access = pdx_access::testing::test_service(db.database().clone(), keys.path());
    Harness {
        access,
        _db: db,
        _keys: keys,
    }
}

#[tokio::test]
async fn bootstrap_creates_one_platform_admin_with_a_one_time_password_once() {
    let h = harness();
    let first = h.access.bootstrap().await;
    let Ok(Some(admin)) = first else {
        panic!("no bootstrap admin: {first:?}")
    };
    assert_eq!(admin.email, "admin@pdx.test");
    assert!(admin.password.len() >= 20, "a strong random password");
    assert!(
        matches!(h.access.bootstrap().await, Ok(None)),
        "only on an empty database"
    );

    let context = RequestContext::default();
    let grant = h
        .access
        .sign_in(&admin.email, &admin.password, None, &context)
        .await;
    let Ok(grant) = grant else {
        panic!("sign-in failed: {grant:?}")
    };
    let verified = h.access.authenticate(&grant.access_token);
    let Ok(verified) = verified else {
        panic!("{verified:?}")
    };
    assert!(verified.password_change_required);
    assert_eq!(verified.principal.org_kind, OrgKind::Platform);
    assert!(verified.principal.has(Role::PlatformAdmin));
    assert_eq!(grant.scope, "platform_admin");
}

#[tokio::test]
async fn concurrent_rotations_of_one_refresh_token_let_at_most_one_through() {
    let h = harness();
    let created = h
        .access
        .create_organization_as_operator(pdx_access::service::OrganizationInput {
            name: "Water Authority".into(),
            slug: None,
            kind: OrgKind::Agency,
            credit_code: None,
            contact_email: None,
            contact_phone: None,
        })
        .await;
    let Ok(org) = created else {
        panic!("{created:?}")
    };
    assert_eq!(org.slug, "water-authority");
    let user = h
        .access
        .create_user_as_operator(
            "water-authority",
            "clerk@water.test",
            "Clerk",
            "correct horse battery",
            vec![Role::Member],
            false,
        )
        .await;
    assert!(user.is_ok(), "{user:?}");
    let context = RequestContext::default();
    let grant = h
        .access
        .sign_in("clerk@water.test", "correct horse battery", None, &context)
        .await;
    let Ok(grant) = grant else { panic!() };
    let Some(refresh) = grant.refresh_token else {
        panic!("no refresh token")
    };

    let attempts = (0..8).map(|_| {
        let access = h.access.clone();
        let refresh = refresh.clone();
        tokio::spawn(async move { access.refresh(&refresh, &RequestContext::default()).await })
    });
    let mut succeeded = 0;
    for attempt in attempts {
        match attempt.await {
            Ok(Ok(_)) => succeeded += 1,
            Ok(Err(AccessError::RefreshTokenReused | AccessError::InvalidRefreshToken)) => {}
            Ok(Err(AccessError::Storage(e))) if e.is_transient() => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert!(
        succeeded <= 1,
        "{succeeded} rotations of one token succeeded"
    );
}

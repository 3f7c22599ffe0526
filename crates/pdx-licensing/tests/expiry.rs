//! Grant expiry on a real database: it takes effect at the instant the term ends, and is
//! recorded in the audit trail exactly once.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use pdx_access::audit::{self, AuditFilter};
use pdx_access::store::NewOrganization;
use pdx_catalog::model::DatasetInput;
use pdx_core::{
    Classification, Clock, DataGrade, GrantId, ManualClock, OpeningClass, OrgKind, SharingClass,
};
use pdx_licensing::LicensingService;
use pdx_licensing::model::{Grant, GrantState, GrantStatus};
use pdx_storage::testing::TestDatabase;

#[tokio::test]
async fn expiry_takes_effect_at_the_instant_and_is_recorded_once() {
    let db = TestDatabase::new();
    let Some(start) = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single() else {
        panic!()
    };
    let clock = ManualClock::new(start);
    let Ok(mut conn) = db.database().conn() else {
        panic!()
    };
    let org = |slug: &str, kind| NewOrganization {
        slug: slug.into(),
        name: slug.into(),
        kind,
        credit_code: None,
        verified: true,
        contact_email: None,
        contact_phone: None,
    };
    let Ok(agency) =
        pdx_access::store::insert_organization(&mut conn, &org("water", OrgKind::Agency), start)
    else {
        panic!()
    };
    let Ok(consumer) =
        pdx_access::store::insert_organization(&mut conn, &org("acme", OrgKind::Enterprise), start)
    else {
        panic!()
    };
    let input = DatasetInput {
        slug: None,
        title: "Levels".into(),
        description: "Water levels".into(),
        translations: Default::default(),
        keywords: vec![],
        themes: vec![],
        contact_name: None,
        contact_email: None,
        spatial: None,
        temporal_start: None,
        temporal_end: None,
        update_frequency: "daily".into(),
        languages: vec!["zh".into()],
        resource_code: None,
        classification: Classification {
            sharing: SharingClass::Conditional,
            opening: OpeningClass::Conditional,
            grade: DataGrade::General,
        },
        licence: None,
        landing_page: None,
    };
    let Ok(dataset) =
        pdx_catalog::store::insert_dataset(&mut conn, agency.id, "levels", &input, start)
    else {
        panic!()
    };
    let grant = Grant {
        id: GrantId::new(),
        dataset_id: dataset,
        organization_id: consumer.id,
        licence_id: "CC-BY-4.0".into(),
        request_id: None,
        valid_from: start,
        valid_until: start + Duration::days(30),
        purposes: vec!["research".into()],
        max_requests: None,
        max_bytes: None,
        max_rows: None,
        fee_per_request: 0,
        fee_per_mb: 0,
        state: GrantState::Active,
        status_reason: None,
        created_at: start,
        updated_at: start,
        distributions: vec![],
        column_rules: None,
    };
    assert!(pdx_licensing::store::insert_grant(&mut conn, &grant).is_ok());
    drop(conn);

    let licensing = LicensingService::new(db.database().clone(), Arc::new(clock.clone()));
    clock.advance(Duration::days(30) - Duration::microseconds(1));
    assert_eq!(grant.status(clock.now()), GrantStatus::Active);
    assert_eq!(licensing.record_expiries().await.ok(), Some(0));
    clock.advance(Duration::microseconds(1));
    assert_eq!(
        grant.status(clock.now()),
        GrantStatus::Expired,
        "expired at the instant the term ends"
    );
    assert_eq!(licensing.record_expiries().await.ok(), Some(1));
    assert_eq!(
        licensing.record_expiries().await.ok(),
        Some(0),
        "recorded once"
    );

    let Ok(mut conn) = db.database().conn() else {
        panic!()
    };
    let filter = AuditFilter {
        kind: Some("grant_expired".into()),
        ..AuditFilter::default()
    };
    let events = audit::list(&mut conn, &filter, 0, 10);
    let Ok((events, total)) = events else {
        panic!()
    };
    assert_eq!(total, 1);
    assert_eq!(
        events[0].subject.as_deref(),
        Some(grant.id.to_string().as_str())
    );
}

//! Each anomaly rule on a real database: a ledger that should trigger it and one just short
//! of it.

use chrono::Duration;
use pdx_circulation::accounting::{self, Calendar};
use pdx_circulation::anomalies::{self, Finding, GrantTerms, Thresholds};
use pdx_circulation::{DATA_ACCESS, Entry, store};
use pdx_core::Timestamp;
use pdx_storage::testing::TestDatabase;

fn at(text: &str) -> Timestamp {
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(time) => time.to_utc(),
        Err(error) => panic!("{text}: {error}"),
    }
}

/// Ten in the morning in Shanghai on November 10th.
fn base() -> Timestamp {
    at("2026-11-10T02:00:00Z")
}

struct Ledger {
    db: TestDatabase,
}

impl Ledger {
    fn new() -> Self {
        let ledger = Self {
            db: TestDatabase::new(),
        };
        ledger.write(|conn| {
            accounting::rebuild(conn, Calendar::default(), base(), |_| {}).map(|_| ())
        });
        ledger
    }

    fn write<T>(
        &self,
        work: impl FnOnce(&mut pdx_storage::DbConnection) -> Result<T, pdx_storage::StorageError>,
    ) -> T {
        let Ok(mut conn) = self.db.database().conn() else {
            panic!("no connection")
        };
        match pdx_storage::database::transaction(&mut conn, work) {
            Ok(value) => value,
            Err(error) => panic!("{error}"),
        }
    }

    fn append(&self, time: Timestamp, entries: Vec<Entry>) {
        let mut entries = entries;
        self.write(|conn| store::append(conn, &mut entries, time).map(|_| ()));
    }

    /// The findings of one rule over `[start, end)`.
    fn find(
        &self,
        rule: &str,
        grants: &[GrantTerms],
        start: Timestamp,
        end: Timestamp,
    ) -> Vec<Finding> {
        let Ok(mut conn) = self.db.database().conn() else {
            panic!("no connection")
        };
        let found = anomalies::find(
            &mut conn,
            Calendar::default(),
            &Thresholds::default(),
            grants,
            start,
            end,
        );
        match found {
            Ok(all) => {
                for finding in &all {
                    for name in finding.figures.keys() {
                        assert!(
                            anomalies::FIGURES.contains(name),
                            "{name} of {} is not in anomalies::FIGURES",
                            finding.rule
                        );
                    }
                }
                all.into_iter().filter(|f| f.rule == rule).collect()
            }
            Err(error) => panic!("{error}"),
        }
    }
}

fn request(consumer: &str, user: &str, grant: Option<&str>, decision: &str, bytes: u64) -> Entry {
    let mut entry = Entry::data_access();
    entry.kind = DATA_ACCESS.into();
    entry.actor_org = Some(consumer.into());
    entry.actor_user = Some(user.into());
    entry.provider_org = Some("water".into());
    entry.dataset = Some("levels".into());
    entry.grant = grant.map(Into::into);
    entry.purpose = Some("research".into());
    entry.decision = decision.into();
    entry.reason = if decision == "deny" {
        "no_grant"
    } else {
        "grant"
    }
    .into();
    entry.bytes = bytes;
    entry
}

fn event(
    kind: &str,
    grant: Option<&str>,
    subject: Option<&str>,
    detail: serde_json::Value,
) -> Entry {
    let mut entry = Entry::data_access();
    entry.kind = kind.into();
    entry.actor_org = Some("platform".into());
    entry.decision = "success".into();
    entry.grant = grant.map(Into::into);
    entry.subject = subject.map(Into::into);
    entry.detail = Some(detail);
    entry
}

fn terms(grant: &str, max_requests: Option<u64>, valid_until: Timestamp) -> GrantTerms {
    GrantTerms {
        grant: grant.into(),
        consumer: "acme".into(),
        max_requests,
        max_bytes: None,
        valid_until,
    }
}

fn far() -> Timestamp {
    at("2027-12-31T00:00:00Z")
}

fn day() -> (Timestamp, Timestamp) {
    (base() - Duration::hours(10), base() + Duration::hours(14))
}

#[test]
fn a_burst_of_refusals_by_one_user_is_found_and_a_slower_run_is_not() {
    let ledger = Ledger::new();
    // Twenty refusals of one user within ten minutes.
    for i in 0..20 {
        ledger.append(
            base() + Duration::seconds(25 * i),
            vec![request("acme", "u-fast", None, "deny", 0)],
        );
    }
    // Twenty of another, but one every minute: never twenty within ten.
    for i in 0..20 {
        ledger.append(
            base() + Duration::minutes(i),
            vec![request("beta", "u-slow", None, "deny", 0)],
        );
    }
    let (start, end) = day();
    let found = ledger.find("denial_burst", &[], start, end);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].user.as_deref(), Some("u-fast"));
    assert_eq!(found[0].entries, 20);
    assert_eq!(found[0].seqs.len(), 20);
    assert_eq!(found[0].figures["refusals"], 20);
}

#[test]
fn a_grant_at_ninety_percent_of_its_quota_is_found_and_one_at_eighty_is_not() {
    let ledger = Ledger::new();
    for i in 0..9 {
        ledger.append(
            base() + Duration::minutes(i),
            vec![request("acme", "u", Some("g-near"), "permit", 10)],
        );
    }
    for i in 0..8 {
        ledger.append(
            base() + Duration::minutes(i),
            vec![request("acme", "u", Some("g-fine"), "permit", 10)],
        );
    }
    let grants = [
        terms("g-near", Some(10), far()),
        terms("g-fine", Some(10), far()),
    ];
    let (start, end) = day();
    let found = ledger.find("near_quota", &grants, start, end);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].grant.as_deref(), Some("g-near"));
    assert_eq!(found[0].figures["percent"], 90);
    assert_eq!(found[0].entries, 9);
}

#[test]
fn use_just_before_an_expiry_or_a_revocation_is_found_and_earlier_use_is_not() {
    let ledger = Ledger::new();
    let expiry = base() + Duration::hours(2);
    ledger.append(
        base(),
        vec![request("acme", "u", Some("g-expiring"), "permit", 10)],
    );
    // Used thirty hours before it expires: outside the 24 hours.
    let later = base() + Duration::hours(30);
    ledger.append(
        base(),
        vec![request("acme", "u", Some("g-early"), "permit", 10)],
    );
    // Used an hour before it was revoked.
    ledger.append(
        base(),
        vec![request("acme", "u", Some("g-revoked"), "permit", 10)],
    );
    ledger.append(
        base() + Duration::hours(1),
        vec![event(
            "grant_revoked",
            Some("g-revoked"),
            Some("g-revoked"),
            serde_json::json!({}),
        )],
    );
    let grants = [
        terms("g-expiring", None, expiry),
        terms("g-early", None, later),
        terms("g-revoked", None, far()),
    ];
    let (start, end) = day();
    let found = ledger.find("use_before_end", &grants, start, end);
    let mut grants: Vec<&str> = found.iter().filter_map(|f| f.grant.as_deref()).collect();
    grants.sort_unstable();
    assert_eq!(grants, ["g-expiring", "g-revoked"], "{found:?}");
    assert!(found.iter().any(|f| f.description.contains("revoked")));
}

#[test]
fn requests_after_a_verification_is_withdrawn_are_found_and_after_it_is_restored_are_not() {
    let ledger = Ledger::new();
    let withdraw = |org: &str, verified: bool| {
        event(
            "organization_verified",
            None,
            Some(org),
            serde_json::json!({ "verified": verified }),
        )
    };
    ledger.append(
        base(),
        vec![withdraw("acme", false), withdraw("beta", false)],
    );
    ledger.append(base() + Duration::minutes(5), vec![withdraw("beta", true)]);
    ledger.append(
        base() + Duration::minutes(10),
        vec![
            request("acme", "u", None, "deny", 0),
            request("beta", "v", None, "permit", 10),
        ],
    );
    let (start, end) = day();
    let found = ledger.find("unverified_use", &[], start, end);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].organization.as_deref(), Some("acme"));
    assert_eq!(found[0].figures["refused"], 1);
}

#[test]
fn a_grant_used_again_after_forty_idle_days_is_found_and_after_ten_is_not() {
    let ledger = Ledger::new();
    ledger.append(
        base() - Duration::days(40),
        vec![request("acme", "u", Some("g-dormant"), "permit", 10)],
    );
    ledger.append(
        base() - Duration::days(10),
        vec![request("acme", "u", Some("g-busy"), "permit", 10)],
    );
    ledger.append(
        base(),
        vec![
            request("acme", "u", Some("g-dormant"), "permit", 10),
            request("acme", "u", Some("g-busy"), "permit", 10),
        ],
    );
    // Issued long ago and used for the first time today.
    ledger.append(
        base() - Duration::days(60),
        vec![event(
            "grant_issued",
            Some("g-new"),
            Some("g-new"),
            serde_json::json!({}),
        )],
    );
    ledger.append(
        base(),
        vec![request("beta", "v", Some("g-new"), "permit", 10)],
    );
    let (start, end) = day();
    let found = ledger.find("dormant_grant", &[], start, end);
    let mut grants: Vec<(&str, i64)> = found
        .iter()
        .filter_map(|f| Some((f.grant.as_deref()?, f.figures["idle_days"])))
        .collect();
    grants.sort_unstable();
    assert_eq!(grants, [("g-dormant", 40), ("g-new", 60)], "{found:?}");
}

#[test]
fn a_day_ten_times_a_grants_usual_volume_is_found_and_five_times_is_not() {
    let ledger = Ledger::new();
    for d in 1..=6 {
        let time = base() - Duration::days(d);
        ledger.append(
            time,
            vec![
                request("acme", "u", Some("g-spike"), "permit", 100),
                request("acme", "u", Some("g-steady"), "permit", 100),
            ],
        );
    }
    for _ in 0..10 {
        ledger.append(
            base(),
            vec![request("acme", "u", Some("g-spike"), "permit", 100)],
        );
    }
    for _ in 0..5 {
        ledger.append(
            base(),
            vec![request("acme", "u", Some("g-steady"), "permit", 100)],
        );
    }
    let (start, end) = day();
    let found = ledger.find("volume_spike", &[], start, end);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].grant.as_deref(), Some("g-spike"));
    assert_eq!(found[0].figures["bytes"], 1000);
    assert_eq!(found[0].figures["usual_bytes"], 100);
    assert_eq!(found[0].organization.as_deref(), Some("acme"));
}

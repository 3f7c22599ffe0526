//! The usage roll-ups on a real database: appends record deltas, folds move them into the day
//! rows, and the figures read are the same before and after a fold, under concurrent appends,
//! and after a rebuild from the ledger.

use chrono::{Duration, NaiveDate};
use pdx_circulation::accounting::{self, Calendar, Dimension, Period, UsageQuery, UsageRow};
use pdx_circulation::{DATA_ACCESS, DATA_REPLAY, Entry, store};
use pdx_core::Timestamp;
use pdx_storage::schema::ledger_rollup_deltas;
use pdx_storage::testing::TestDatabase;
use pdx_storage::{Database, DbConnection, StorageError};

use diesel::prelude::*;

fn at(text: &str) -> Timestamp {
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(time) => time.to_utc(),
        Err(error) => panic!("{text}: {error}"),
    }
}

/// Half an hour before midnight in Shanghai, November 30th: the batches straddle the day and
/// the month.
fn base() -> Timestamp {
    at("2026-11-30T15:30:00Z")
}

fn write<T>(
    database: &Database,
    work: impl FnOnce(&mut DbConnection) -> Result<T, StorageError>,
) -> T {
    let Ok(mut conn) = database.conn() else {
        panic!("no connection")
    };
    match pdx_storage::database::transaction(&mut conn, work) {
        Ok(value) => value,
        Err(error) => panic!("{error}"),
    }
}

fn usage(database: &Database, period: Period) -> Vec<UsageRow> {
    let query = UsageQuery {
        from: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default(),
        to: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or_default(),
        period,
        group_by: Dimension::ALL.to_vec(),
        dataset: None,
        provider: None,
        consumer: None,
        grant: None,
        purpose: None,
        decision: None,
        party: None,
    };
    let Ok(mut conn) = database.conn() else {
        panic!("no connection")
    };
    match accounting::usage(&mut conn, &query) {
        Ok(rows) => rows,
        Err(error) => panic!("{error}"),
    }
}

/// Every request counted, whatever its outcome.
fn counted(rows: &[UsageRow]) -> u64 {
    rows.iter()
        .map(|r| r.figures.requests + r.figures.denied + r.figures.replays)
        .sum()
}

fn deltas(database: &Database) -> i64 {
    let Ok(mut conn) = database.conn() else {
        panic!("no connection")
    };
    match ledger_rollup_deltas::table
        .count()
        .get_result::<i64>(&mut *conn)
    {
        Ok(n) => n,
        Err(error) => panic!("{error}"),
    }
}

/// The `i`-th request of a varied mix: four datasets, three consumers (one anonymous), grants,
/// purposes, permits with bytes, rows and fees, denials and replays.
fn request(i: u64) -> Entry {
    let mut entry = Entry::data_access();
    entry.kind = if i.is_multiple_of(11) {
        DATA_REPLAY
    } else {
        DATA_ACCESS
    }
    .into();
    let consumer = ["acme", "beta", ""][(i % 3) as usize];
    entry.actor_org = (!consumer.is_empty()).then(|| consumer.to_owned());
    entry.provider_org = Some(
        if i.is_multiple_of(2) {
            "water"
        } else {
            "transport"
        }
        .into(),
    );
    entry.dataset = Some(format!("dataset-{}", i % 4));
    entry.grant = (!consumer.is_empty()).then(|| format!("grant-{consumer}-{}", i % 2));
    entry.purpose = (!consumer.is_empty()).then(|| "research".to_owned());
    entry.decision = if i.is_multiple_of(7) {
        "deny"
    } else {
        "permit"
    }
    .into();
    entry.reason = if i.is_multiple_of(7) {
        "no_grant"
    } else {
        "grant"
    }
    .into();
    entry.bytes = 1_000 + i;
    entry.rows = i % 5;
    entry.fee = if consumer.is_empty() { 0 } else { 25 };
    entry
}

fn append(database: &Database, time: Timestamp, from: u64, count: u64) {
    let mut entries: Vec<Entry> = (from..from + count).map(request).collect();
    write(database, |conn| {
        store::append(conn, &mut entries, time).map(|_| ())
    });
}

fn fold(database: &Database) -> u64 {
    write(database, accounting::fold)
}

fn rebuild(database: &Database) {
    write(database, |conn| {
        accounting::rebuild(conn, Calendar::default(), base(), |_| {}).map(|_| ())
    });
}

#[test]
fn a_fold_moves_the_deltas_into_the_day_rows_and_changes_no_figure() {
    let db = TestDatabase::new();
    let database = db.database();
    rebuild(database);
    // Batches either side of midnight in Shanghai (the end of November).
    for batch in 0..12_u64 {
        let time = base() + Duration::minutes(5 * batch as i64);
        append(database, time, batch * 10, 10);
    }
    let recorded = deltas(database);
    assert!(recorded > 0, "appends record deltas");
    let by_day = usage(database, Period::Day);
    let by_month = usage(database, Period::Month);
    assert_eq!(
        by_day
            .iter()
            .map(|r| r.period.as_str())
            .collect::<std::collections::BTreeSet<_>>(),
        ["2026-11-30", "2026-12-01"].into(),
        "the batches fall on both days"
    );
    assert_eq!(counted(&by_day), 120);

    assert_eq!(fold(database), recorded as u64);
    assert_eq!(deltas(database), 0, "the fold deletes what it folded");
    assert_eq!(usage(database, Period::Day), by_day);
    assert_eq!(usage(database, Period::Month), by_month);
    assert_eq!(fold(database), 0, "nothing left to fold");

    // More of the same keys: some figures are in the day rows, some in the deltas.
    for batch in 12..20_u64 {
        append(database, base() + Duration::minutes(60), batch * 10, 10);
    }
    let mixed = usage(database, Period::Day);
    assert_ne!(mixed, by_day);
    assert_eq!(counted(&mixed), 200, "day rows and deltas add up");
    fold(database);
    assert_eq!(usage(database, Period::Day), mixed);
    // The folded figures are those a rebuild from the ledger computes.
    rebuild(database);
    assert_eq!(deltas(database), 0);
    assert_eq!(usage(database, Period::Day), mixed);
}

#[test]
fn folds_during_concurrent_appends_lose_and_double_nothing() {
    let db = TestDatabase::new();
    let database = db.database().clone();
    rebuild(&database);
    let appenders: Vec<_> = (0..4_u64)
        .map(|writer| {
            let database = database.clone();
            std::thread::spawn(move || {
                for batch in 0..40_u64 {
                    let time = base() + Duration::minutes(batch as i64);
                    append(&database, time, (writer * 40 + batch) * 5, 5);
                }
            })
        })
        .collect();
    let folder = {
        let database = database.clone();
        std::thread::spawn(move || {
            let mut folded = 0;
            for _ in 0..60 {
                folded += fold(&database);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            folded
        })
    };
    for appender in appenders {
        appender
            .join()
            .unwrap_or_else(|_| panic!("an appender failed"));
    }
    let folded = folder
        .join()
        .unwrap_or_else(|_| panic!("the folder failed"));
    assert!(folded > 0, "some folds ran while appends went on");
    fold(&database);
    let after_folds = usage(&database, Period::Day);
    assert_eq!(counted(&after_folds), 4 * 40 * 5);
    rebuild(&database);
    assert_eq!(usage(&database, Period::Day), after_folds);
}

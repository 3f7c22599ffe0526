//! Anomalies in the circulation, found from the ledger alone (and the grants' terms, which the
//! caller supplies from licensing): each finding names its rule, its figures and the ledger
//! entries behind it, so an auditor can read and prove every one of them.
//!
//! | rule | finds |
//! |---|---|
//! | `denial_burst` | at least `denial_burst` refused data requests by one user (or organisation) within `denial_burst_minutes` |
//! | `near_quota` | a grant used in the period whose requests or bytes have reached `near_quota_percent` of its quota |
//! | `use_before_end` | use of a grant in the `before_end_hours` before it expired or was revoked |
//! | `unverified_use` | data requests by an organisation after its verification was withdrawn |
//! | `dormant_grant` | use of a grant after at least `dormant_days` days without any (or since it was issued) |
//! | `volume_spike` | a day on which a grant served at least `volume_factor` times its median day of the `volume_history_days` before (with at least `volume_min_days` days of use) |

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use pdx_core::Timestamp;
use pdx_storage::schema::{ledger_entries, ledger_rollups_current, ledger_usage};
use pdx_storage::{DbConnection, StorageError};
use serde::{Deserialize, Serialize};

use crate::accounting::Calendar;
use crate::entry::{DATA_ACCESS, DATA_REPLAY, Entry};

/// Ledger entries a finding lists at most; `entries` counts them all.
const MAX_LISTED: usize = 100;

/// The rules' thresholds (configuration `[accounting.anomalies]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Refusals of one principal that make a burst.
    pub denial_burst: u64,
    /// Minutes within which they make one.
    pub denial_burst_minutes: i64,
    /// Percent of a quota used that is near it.
    pub near_quota_percent: u64,
    /// Hours before a grant's expiry or revocation in which use is reported.
    pub before_end_hours: i64,
    /// Days without use after which a grant is dormant.
    pub dormant_days: i64,
    /// How many times a grant's median day a day must serve to be a spike.
    pub volume_factor: u64,
    /// Days before a day that make a grant's usual volume.
    pub volume_history_days: i64,
    /// Days of use among them needed to call anything usual.
    pub volume_min_days: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            denial_burst: 20,
            denial_burst_minutes: 10,
            near_quota_percent: 90,
            before_end_hours: 24,
            dormant_days: 30,
            volume_factor: 10,
            volume_history_days: 30,
            volume_min_days: 5,
        }
    }
}

/// What the rules need to know of a grant besides the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantTerms {
    /// The grant (id).
    pub grant: String,
    /// Its consumer organisation (id).
    pub consumer: String,
    /// Its request quota, if any.
    pub max_requests: Option<u64>,
    /// Its byte quota, if any.
    pub max_bytes: Option<u64>,
    /// When it expires.
    pub valid_until: Timestamp,
}

/// One anomaly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule that found it.
    pub rule: &'static str,
    /// What happened, for a person.
    pub description: String,
    /// The organisation concerned (id), if any.
    pub organization: Option<String>,
    /// The user concerned (id), if any.
    pub user: Option<String>,
    /// The grant concerned (id), if any.
    pub grant: Option<String>,
    /// When it began.
    pub from: Timestamp,
    /// When it ended.
    pub until: Timestamp,
    /// The figures the rule weighed, by name.
    pub figures: BTreeMap<&'static str, i64>,
    /// The ledger entries behind it, in ledger order (at most a hundred).
    pub seqs: Vec<u64>,
    /// How many entries are behind it.
    pub entries: u64,
}

/// The names of every figure a finding may carry ([`Finding::figures`]).
pub const FIGURES: [&str; 21] = [
    "bytes",
    "days_of_history",
    "factor",
    "hours_before_end",
    "idle_days",
    "minutes",
    "percent",
    "quota",
    "refusals",
    "refused",
    "requests",
    "requests_that_day",
    "served",
    "threshold",
    "threshold_days",
    "threshold_hours",
    "threshold_percent",
    "used",
    "usual_bytes",
    "usual_requests",
    "window_minutes",
];

fn listed(seqs: impl IntoIterator<Item = u64>) -> (Vec<u64>, u64) {
    let mut all: Vec<u64> = seqs.into_iter().collect();
    let count = all.len() as u64;
    all.truncate(MAX_LISTED);
    (all, count)
}

fn seq_of(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn figure(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The findings of every rule for what was recorded in `[start, end)`, by rule and time.
pub fn find(
    conn: &mut DbConnection,
    calendar: Calendar,
    thresholds: &Thresholds,
    grants: &[GrantTerms],
    start: Timestamp,
    end: Timestamp,
) -> Result<Vec<Finding>, StorageError> {
    let mut findings = Vec::new();
    findings.extend(denial_bursts(conn, thresholds, start, end)?);
    findings.extend(near_quota(conn, thresholds, grants, start, end)?);
    findings.extend(use_before_end(conn, thresholds, grants, start, end)?);
    findings.extend(unverified_use(conn, start, end)?);
    let (first_day, last_day) = (
        calendar.day(start),
        calendar.day(end - Duration::seconds(1)),
    );
    findings.extend(dormant_grants(
        conn, calendar, thresholds, first_day, last_day,
    )?);
    findings.extend(volume_spikes(
        conn, calendar, thresholds, first_day, last_day,
    )?);
    Ok(findings)
}

/// Runs of refusals of one principal, `threshold` or more within the window.
fn denial_bursts(
    conn: &mut DbConnection,
    thresholds: &Thresholds,
    start: Timestamp,
    end: Timestamp,
) -> Result<Vec<Finding>, StorageError> {
    type Denial = (
        i64,
        NaiveDateTime,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let denials: Vec<Denial> = ledger_entries::table
        .filter(ledger_entries::kind.eq(DATA_ACCESS))
        .filter(ledger_entries::decision.eq("deny"))
        .filter(ledger_entries::recorded_at.ge(start.naive_utc()))
        .filter(ledger_entries::recorded_at.lt(end.naive_utc()))
        .order(ledger_entries::seq.asc())
        .select((
            ledger_entries::seq,
            ledger_entries::recorded_at,
            ledger_entries::actor_user_id,
            ledger_entries::organization_id,
            ledger_entries::reason,
        ))
        .load(conn)?;
    let mut by_principal: BTreeMap<(Option<String>, Option<String>), Vec<&Denial>> =
        BTreeMap::new();
    for denial in &denials {
        // Anonymous refusals name no one; they are turned away per address at the edge.
        if denial.2.is_none() && denial.3.is_none() {
            continue;
        }
        by_principal
            .entry((denial.2.clone(), denial.3.clone()))
            .or_default()
            .push(denial);
    }
    let window = Duration::minutes(thresholds.denial_burst_minutes.max(1));
    let needed = usize::try_from(thresholds.denial_burst.max(1)).unwrap_or(usize::MAX);
    let mut findings = Vec::new();
    for ((user, organization), mut list) in by_principal {
        list.sort_by_key(|d| (d.1, d.0));
        // Each qualifying window [i, j] is merged with the ones it overlaps into a burst.
        let mut bursts: Vec<(usize, usize)> = Vec::new();
        let mut i = 0;
        for j in 0..list.len() {
            while list[j].1 - list[i].1 > window {
                i += 1;
            }
            if j + 1 - i >= needed {
                match bursts.last_mut() {
                    Some((_, last)) if *last + 1 >= i => *last = j,
                    _ => bursts.push((i, j)),
                }
            }
        }
        for (a, b) in bursts {
            let run = &list[a..=b];
            let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
            for d in run {
                *reasons.entry(d.4.clone().unwrap_or_default()).or_default() += 1;
            }
            let (seqs, entries) = listed(run.iter().map(|d| seq_of(d.0)));
            let (from, until) = (run[0].1.and_utc(), run[run.len() - 1].1.and_utc());
            let minutes = (until - from).num_minutes();
            let common = reasons
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(r, _)| r.clone())
                .unwrap_or_default();
            findings.push(Finding {
                rule: "denial_burst",
                description: format!(
                    "{entries} data requests refused within {minutes} minutes (mostly {common})"
                ),
                organization: organization.clone(),
                user: user.clone(),
                grant: None,
                from,
                until,
                figures: BTreeMap::from([
                    ("refusals", figure(entries)),
                    ("minutes", minutes),
                    ("threshold", figure(thresholds.denial_burst)),
                    ("window_minutes", thresholds.denial_burst_minutes),
                ]),
                seqs,
                entries,
            });
        }
    }
    Ok(findings)
}

/// Permitted entries of a grant recorded in `[from, until)`: seq and time.
fn grant_permits(
    conn: &mut DbConnection,
    grant: &str,
    from: Timestamp,
    until: Timestamp,
) -> Result<Vec<(i64, NaiveDateTime)>, StorageError> {
    Ok(ledger_entries::table
        .filter(ledger_entries::grant_id.eq(grant))
        .filter(ledger_entries::kind.eq(DATA_ACCESS))
        .filter(ledger_entries::decision.eq("permit"))
        .filter(ledger_entries::recorded_at.ge(from.naive_utc()))
        .filter(ledger_entries::recorded_at.lt(until.naive_utc()))
        .order(ledger_entries::seq.asc())
        .select((ledger_entries::seq, ledger_entries::recorded_at))
        .load(conn)?)
}

/// Grants used in the period whose use has reached the threshold of a quota.
fn near_quota(
    conn: &mut DbConnection,
    thresholds: &Thresholds,
    grants: &[GrantTerms],
    start: Timestamp,
    end: Timestamp,
) -> Result<Vec<Finding>, StorageError> {
    let limited: Vec<&GrantTerms> = grants
        .iter()
        .filter(|g| g.max_requests.is_some() || g.max_bytes.is_some())
        .collect();
    let ids: Vec<String> = limited.iter().map(|g| g.grant.clone()).collect();
    let used: HashMap<String, (i64, i64)> = ledger_usage::table
        .filter(ledger_usage::grant_id.eq_any(&ids))
        .select((
            ledger_usage::grant_id,
            ledger_usage::requests,
            ledger_usage::bytes,
        ))
        .load::<(String, i64, i64)>(conn)?
        .into_iter()
        .map(|(grant, requests, bytes)| (grant, (requests, bytes)))
        .collect();
    let mut findings = Vec::new();
    for terms in limited {
        let (requests, bytes) = used.get(&terms.grant).copied().unwrap_or((0, 0));
        let percent = |used: i64, max: Option<u64>| {
            max.filter(|m| *m > 0)
                .map(|m| (u64::try_from(used).unwrap_or(0).saturating_mul(100) / m, m))
        };
        let quotas = [
            ("requests", requests, percent(requests, terms.max_requests)),
            ("bytes", bytes, percent(bytes, terms.max_bytes)),
        ];
        let Some((what, value, (share, max))) = quotas
            .into_iter()
            .filter_map(|(what, value, p)| p.map(|p| (what, value, p)))
            .filter(|(_, _, (share, _))| *share >= thresholds.near_quota_percent)
            .max_by_key(|(_, _, (share, _))| *share)
        else {
            continue;
        };
        let permits = grant_permits(conn, &terms.grant, start, end)?;
        let (Some(first), Some(last)) = (permits.first(), permits.last()) else {
            continue;
        };
        let (from, until) = (first.1.and_utc(), last.1.and_utc());
        let (seqs, entries) = listed(permits.iter().map(|p| seq_of(p.0)));
        findings.push(Finding {
            rule: "near_quota",
            description: format!("{share}% of the grant's {what} quota used ({value} of {max})"),
            organization: Some(terms.consumer.clone()),
            user: None,
            grant: Some(terms.grant.clone()),
            from,
            until,
            figures: BTreeMap::from([
                ("used", value),
                ("quota", figure(max)),
                ("percent", figure(share)),
                ("threshold_percent", figure(thresholds.near_quota_percent)),
            ]),
            seqs,
            entries,
        });
    }
    Ok(findings)
}

/// Use of a grant shortly before it expired or was revoked.
fn use_before_end(
    conn: &mut DbConnection,
    thresholds: &Thresholds,
    grants: &[GrantTerms],
    start: Timestamp,
    end: Timestamp,
) -> Result<Vec<Finding>, StorageError> {
    let ids: Vec<String> = grants.iter().map(|g| g.grant.clone()).collect();
    let revoked: HashMap<String, NaiveDateTime> = ledger_entries::table
        .filter(ledger_entries::kind.eq("grant_revoked"))
        .filter(ledger_entries::decision.eq("success"))
        .filter(ledger_entries::grant_id.eq_any(&ids))
        .select((ledger_entries::grant_id, ledger_entries::recorded_at))
        .load::<(Option<String>, NaiveDateTime)>(conn)?
        .into_iter()
        .filter_map(|(grant, at)| Some((grant?, at)))
        .collect();
    let before = Duration::hours(thresholds.before_end_hours.max(1));
    let mut findings = Vec::new();
    for terms in grants {
        let revocation = revoked.get(&terms.grant).map(|at| at.and_utc());
        let (ending, how) = match revocation {
            Some(at) if at < terms.valid_until => (at, "revoked"),
            _ => (terms.valid_until, "expired"),
        };
        let (from, until) = ((ending - before).max(start), ending.min(end));
        if from >= until {
            continue;
        }
        let permits = grant_permits(conn, &terms.grant, from, until)?;
        let (Some(first), Some(last)) = (permits.first(), permits.last()) else {
            continue;
        };
        let hours = (ending - first.1.and_utc()).num_hours();
        let (seqs, entries) = listed(permits.iter().map(|p| seq_of(p.0)));
        findings.push(Finding {
            rule: "use_before_end",
            description: format!(
                "{entries} data requests served in the {} hours before the grant {how}",
                thresholds.before_end_hours
            ),
            organization: Some(terms.consumer.clone()),
            user: None,
            grant: Some(terms.grant.clone()),
            from: first.1.and_utc(),
            until: last.1.and_utc(),
            figures: BTreeMap::from([
                ("requests", figure(entries)),
                ("hours_before_end", hours),
                ("threshold_hours", thresholds.before_end_hours),
            ]),
            seqs,
            entries,
        });
    }
    Ok(findings)
}

/// Data requests by organisations while their verification was withdrawn.
fn unverified_use(
    conn: &mut DbConnection,
    start: Timestamp,
    end: Timestamp,
) -> Result<Vec<Finding>, StorageError> {
    let events: Vec<(i64, NaiveDateTime, String)> = ledger_entries::table
        .filter(ledger_entries::kind.eq("organization_verified"))
        .filter(ledger_entries::decision.eq("success"))
        .filter(ledger_entries::recorded_at.lt(end.naive_utc()))
        .order(ledger_entries::seq.asc())
        .select((
            ledger_entries::seq,
            ledger_entries::recorded_at,
            ledger_entries::body,
        ))
        .load(conn)?;
    // Per organisation, the spans during which its verification stood withdrawn.
    let mut withdrawn: BTreeMap<String, Vec<(NaiveDateTime, Option<NaiveDateTime>)>> =
        BTreeMap::new();
    for (seq, at, body) in events {
        let entry = Entry::decode(body.as_bytes())
            .map_err(|e| StorageError::CorruptRow(format!("ledger entry {seq}: {e}")))?;
        let (Some(org), Some(verified)) = (
            entry.subject,
            entry
                .detail
                .as_ref()
                .and_then(|d| d.get("verified"))
                .and_then(serde_json::Value::as_bool),
        ) else {
            continue;
        };
        let spans = withdrawn.entry(org).or_default();
        let open = spans.last().is_some_and(|(_, until)| until.is_none());
        match (verified, open) {
            (false, false) => spans.push((at, None)),
            (true, true) => {
                if let Some(last) = spans.last_mut() {
                    last.1 = Some(at);
                }
            }
            _ => {}
        }
    }
    let mut findings = Vec::new();
    for (org, spans) in withdrawn {
        for (since, until) in spans {
            let from = since.max(start.naive_utc());
            let to = until.map_or(end.naive_utc(), |u| u.min(end.naive_utc()));
            if from >= to {
                continue;
            }
            let requests: Vec<(i64, NaiveDateTime, String)> = ledger_entries::table
                .filter(ledger_entries::organization_id.eq(&org))
                .filter(ledger_entries::kind.eq_any([DATA_ACCESS, DATA_REPLAY]))
                .filter(ledger_entries::recorded_at.ge(from))
                .filter(ledger_entries::recorded_at.lt(to))
                .order(ledger_entries::seq.asc())
                .select((
                    ledger_entries::seq,
                    ledger_entries::recorded_at,
                    ledger_entries::decision,
                ))
                .load(conn)?;
            let (Some(first), Some(last)) = (requests.first(), requests.last()) else {
                continue;
            };
            let permitted = requests.iter().filter(|r| r.2 == "permit").count() as u64;
            let (seqs, entries) = listed(requests.iter().map(|r| seq_of(r.0)));
            findings.push(Finding {
                rule: "unverified_use",
                description: format!(
                    "{entries} data requests ({permitted} served) after the organisation's \
                     verification was withdrawn"
                ),
                organization: Some(org.clone()),
                user: None,
                grant: None,
                from: first.1.and_utc(),
                until: last.1.and_utc(),
                figures: BTreeMap::from([
                    ("requests", figure(entries)),
                    ("served", figure(permitted)),
                    ("refused", figure(entries - permitted)),
                ]),
                seqs,
                entries,
            });
        }
    }
    Ok(findings)
}

/// A grant's permitted use on one local day, from the roll-ups.
#[derive(Debug, Clone, Copy, Default)]
struct Day {
    requests: i64,
    bytes: i64,
    first_seq: i64,
    last_seq: i64,
}

/// Permitted use per grant and local day in `[from, to]`, from the roll-ups.
fn grant_days(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeMap<String, BTreeMap<NaiveDate, Day>>, StorageError> {
    let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    let rows: Vec<(String, String, i64, i64, i64, i64)> = ledger_rollups_current::table
        .filter(ledger_rollups_current::outcome.eq("permit"))
        .filter(ledger_rollups_current::grant_id.ne(""))
        .filter(ledger_rollups_current::day.ge(day(from)))
        .filter(ledger_rollups_current::day.le(day(to)))
        .select((
            ledger_rollups_current::grant_id,
            ledger_rollups_current::day,
            ledger_rollups_current::requests,
            ledger_rollups_current::bytes,
            ledger_rollups_current::first_seq,
            ledger_rollups_current::last_seq,
        ))
        .load(conn)?;
    let mut days: BTreeMap<String, BTreeMap<NaiveDate, Day>> = BTreeMap::new();
    for (grant, text, requests, bytes, first_seq, last_seq) in rows {
        let date = NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map_err(|_| StorageError::CorruptRow(format!("ledger_rollups.day {text:?}")))?;
        let slot = days.entry(grant).or_default().entry(date).or_insert(Day {
            first_seq,
            last_seq,
            ..Day::default()
        });
        slot.requests += requests;
        slot.bytes += bytes;
        slot.first_seq = slot.first_seq.min(first_seq);
        slot.last_seq = slot.last_seq.max(last_seq);
    }
    Ok(days)
}

/// The grant's consumer, from its entries.
fn consumer_of(conn: &mut DbConnection, grant: &str) -> Result<Option<String>, StorageError> {
    Ok(ledger_entries::table
        .filter(ledger_entries::grant_id.eq(grant))
        .filter(ledger_entries::kind.eq(DATA_ACCESS))
        .select(ledger_entries::organization_id)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// A grant used again after a long time without use, or first used long after it was issued.
fn dormant_grants(
    conn: &mut DbConnection,
    calendar: Calendar,
    thresholds: &Thresholds,
    first_day: NaiveDate,
    last_day: NaiveDate,
) -> Result<Vec<Finding>, StorageError> {
    let gap = thresholds.dormant_days.max(1);
    let window_start = first_day - Duration::days(gap);
    let days = grant_days(conn, window_start, last_day)?;
    let mut findings = Vec::new();
    for (grant, used) in days {
        let mut previous: Option<NaiveDate> = None;
        for (&day, figures) in &used {
            if day < first_day {
                previous = Some(day);
                continue;
            }
            let before = match previous {
                Some(day) => Some((day, "its last use")),
                None => {
                    // Nothing within the window: the last use before it, or the issue.
                    let earlier: Option<String> = ledger_rollups_current::table
                        .filter(ledger_rollups_current::grant_id.eq(&grant))
                        .filter(ledger_rollups_current::outcome.eq("permit"))
                        .filter(
                            ledger_rollups_current::day
                                .lt(window_start.format("%Y-%m-%d").to_string()),
                        )
                        .select(diesel::dsl::max(ledger_rollups_current::day))
                        .first(conn)?;
                    let earlier =
                        earlier.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
                    match earlier {
                        Some(day) => Some((day, "its last use")),
                        None => {
                            let issued: Option<NaiveDateTime> = ledger_entries::table
                                .filter(ledger_entries::kind.eq("grant_issued"))
                                .filter(ledger_entries::grant_id.eq(&grant))
                                .select(ledger_entries::recorded_at)
                                .first(conn)
                                .optional()?;
                            issued.map(|at| (calendar.day(at.and_utc()), "it was issued"))
                        }
                    }
                }
            };
            previous = Some(day);
            let Some((since, what)) = before else {
                continue;
            };
            let idle = (day - since).num_days();
            if idle < gap {
                continue;
            }
            let first_seq = seq_of(figures.first_seq);
            findings.push(Finding {
                rule: "dormant_grant",
                description: format!("used on {day}, {idle} days after {what} ({since})"),
                organization: consumer_of(conn, &grant)?,
                user: None,
                grant: Some(grant.clone()),
                from: calendar.start(day),
                until: calendar.start(day.succ_opt().unwrap_or(day)),
                figures: BTreeMap::from([
                    ("idle_days", idle),
                    ("requests_that_day", figures.requests),
                    ("threshold_days", gap),
                ]),
                seqs: vec![first_seq],
                entries: 1,
            });
        }
    }
    Ok(findings)
}

/// The median of some values (the lower middle of an even count).
fn median(mut values: Vec<i64>) -> i64 {
    values.sort_unstable();
    values
        .get(values.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0)
}

/// A day on which a grant served far more than on its usual day.
fn volume_spikes(
    conn: &mut DbConnection,
    calendar: Calendar,
    thresholds: &Thresholds,
    first_day: NaiveDate,
    last_day: NaiveDate,
) -> Result<Vec<Finding>, StorageError> {
    let history = Duration::days(thresholds.volume_history_days.max(1));
    let days = grant_days(conn, first_day - history, last_day)?;
    let factor = i64::try_from(thresholds.volume_factor.max(1)).unwrap_or(i64::MAX);
    let mut findings = Vec::new();
    for (grant, used) in days {
        for (&day, figures) in used.range(first_day..=last_day) {
            let before: Vec<&Day> = used.range(day - history..day).map(|(_, d)| d).collect();
            if before.len() < thresholds.volume_min_days.max(1) {
                continue;
            }
            let usual_bytes = median(before.iter().map(|d| d.bytes).collect());
            let usual_requests = median(before.iter().map(|d| d.requests).collect());
            let spike_bytes =
                usual_bytes > 0 && figures.bytes >= factor.saturating_mul(usual_bytes);
            let spike_requests =
                usual_requests > 0 && figures.requests >= factor.saturating_mul(usual_requests);
            if !spike_bytes && !spike_requests {
                continue;
            }
            let (first, last) = (seq_of(figures.first_seq), seq_of(figures.last_seq));
            findings.push(Finding {
                rule: "volume_spike",
                description: format!(
                    "{} requests and {} bytes on {day}, against a usual day of {usual_requests} \
                     requests and {usual_bytes} bytes",
                    figures.requests, figures.bytes
                ),
                organization: consumer_of(conn, &grant)?,
                user: None,
                grant: Some(grant.clone()),
                from: calendar.start(day),
                until: calendar.start(day.succ_opt().unwrap_or(day)),
                figures: BTreeMap::from([
                    ("requests", figures.requests),
                    ("bytes", figures.bytes),
                    ("usual_requests", usual_requests),
                    ("usual_bytes", usual_bytes),
                    ("days_of_history", before.len() as i64),
                    ("factor", factor),
                ]),
                seqs: vec![first, last],
                entries: figures.requests.try_into().unwrap_or(0),
            });
        }
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_lower_middle() {
        assert_eq!(median(vec![5, 1, 3]), 3);
        assert_eq!(median(vec![4, 1, 3, 2]), 2);
        assert_eq!(median(Vec::new()), 0);
    }

    #[test]
    fn listings_are_capped_but_counted() {
        let (seqs, count) = listed(0..250);
        assert_eq!((seqs.len(), count), (MAX_LISTED, 250));
    }
}

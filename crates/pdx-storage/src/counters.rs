//! Rate limits that every server process counts together. Each process counts in memory (the
//! request path never waits for the database) and, about once a second, adds what it counted
//! to the table `rate_counts` and reads back what the others counted. A limit is therefore
//! exact within one process and overshoots across processes by at most what the others
//! admitted since their last exchange.
//!
//! Windows are fixed (aligned to multiples of their length); a subject's count is estimated
//! as a sliding window: the current window's count plus the previous one's, weighted by how
//! much of the previous window the sliding window still covers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::connection::DbConnection;
use crate::error::StorageError;

/// Subjects kept in memory before windows that ended are swept.
const SWEEP_THRESHOLD: usize = 50_000;

/// Counts of one subject in one fixed window.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    /// The window's start, in seconds since the epoch.
    start: i64,
    /// Counted by this process.
    local: u64,
    /// Of `local`, not yet added to the table.
    unflushed: u64,
    /// Counted by the other processes, as last read.
    others: u64,
    /// Refusals by this process in this window.
    refusals: u32,
}

/// An event refused: how long to wait, and whether it is this window's first refusal here
/// (the one worth recording, so that a flood of refusals is not a flood of records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// How long until the count may be under the limit again (at least a second).
    pub wait: Duration,
    /// Whether this is the first refusal of the subject in this window.
    pub first: bool,
}

/// A subject's current and previous windows.
#[derive(Debug, Clone, Copy, Default)]
struct Subject {
    current: Counts,
    previous: Counts,
}

impl Subject {
    /// Moves the windows on to the one starting at `start`.
    fn roll(&mut self, start: i64, length: i64) {
        if self.current.start == start {
            return;
        }
        self.previous = if self.current.start == start - length {
            self.current
        } else {
            Counts {
                start: start - length,
                ..Counts::default()
            }
        };
        self.current = Counts {
            start,
            ..Counts::default()
        };
    }

    fn window(&mut self, start: i64) -> Option<&mut Counts> {
        if self.current.start == start {
            Some(&mut self.current)
        } else if self.previous.start == start {
            Some(&mut self.previous)
        } else {
            None
        }
    }
}

/// Limits of one kind (a `scope`, e.g. anonymous data requests) per subject (e.g. a client
/// address), counted by every process together.
#[derive(Debug)]
pub struct SharedWindows {
    scope: &'static str,
    length: i64,
    subjects: Mutex<HashMap<String, Subject>>,
}

impl SharedWindows {
    /// Counters of `scope` over windows of `window` (whole seconds, at least one).
    pub fn new(scope: &'static str, window: Duration) -> Self {
        Self {
            scope,
            length: i64::try_from(window.as_secs().max(1)).unwrap_or(i64::MAX),
            subjects: Mutex::default(),
        }
    }

    fn start(&self, now: i64) -> i64 {
        now - now.rem_euclid(self.length)
    }

    /// The sliding-window estimate of `subject`'s count at `now` (seconds since the epoch, as
    /// a float for the position within the window), and how long until it drops by one.
    fn estimate(&self, subject: &Subject, now: f64) -> f64 {
        let into = (now - subject.current.start as f64) / self.length as f64;
        let previous = (subject.previous.local + subject.previous.others) as f64;
        let current = (subject.current.local + subject.current.others) as f64;
        current + previous * (1.0 - into).clamp(0.0, 1.0)
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<String, Subject>> {
        self.subjects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wait(&self, subject: &Subject, now: f64) -> Duration {
        let left = subject.current.start as f64 + self.length as f64 - now;
        Duration::from_secs_f64(left.clamp(1.0, self.length as f64))
    }

    /// Counts one event of `subject` at `now` (seconds since the epoch) unless it is past
    /// `limit` (0: unlimited); when it is, how long to wait.
    pub fn hit(&self, subject: &str, limit: u32, now: f64) -> Result<(), Refused> {
        self.admit(subject, limit, now, true)
    }

    /// Whether `subject` is still within `limit` at `now`, counting nothing.
    pub fn check(&self, subject: &str, limit: u32, now: f64) -> Result<(), Refused> {
        self.admit(subject, limit, now, false)
    }

    /// Counts one event of `subject`, whatever the limit.
    pub fn count(&self, subject: &str, now: f64) {
        // Counting only: no limit refuses.
        let _ = self.admit(subject, 0, now, true);
    }

    fn admit(&self, subject: &str, limit: u32, now: f64, count: bool) -> Result<(), Refused> {
        let start = self.start(now.floor() as i64);
        let mut subjects = self.locked();
        if subjects.len() > SWEEP_THRESHOLD {
            let before = start - self.length;
            subjects.retain(|_, s| s.current.start >= before);
        }
        // A known subject is found with one lookup and no allocation of its key.
        if let Some(entry) = subjects.get_mut(subject) {
            return self.decide(entry, start, limit, now, count);
        }
        if !count {
            return Ok(());
        }
        let entry = subjects.entry(subject.to_owned()).or_default();
        self.decide(entry, start, limit, now, count)
    }

    /// Admits or refuses one event of a subject whose windows are `entry`.
    fn decide(
        &self,
        entry: &mut Subject,
        start: i64,
        limit: u32,
        now: f64,
        count: bool,
    ) -> Result<(), Refused> {
        entry.roll(start, self.length);
        if limit > 0 && self.estimate(entry, now) >= f64::from(limit) {
            entry.current.refusals = entry.current.refusals.saturating_add(1);
            return Err(Refused {
                wait: self.wait(entry, now),
                first: entry.current.refusals == 1,
            });
        }
        if count {
            entry.current.local += 1;
            entry.current.unflushed += 1;
        }
        Ok(())
    }

    /// Exchanges counts with the other processes at `now` (seconds since the epoch): adds
    /// this process's new counts to the table, reads back everyone's for the current and
    /// previous windows, and forgets windows that ended before those.
    pub fn sync(&self, conn: &mut DbConnection, now: i64) -> Result<(), StorageError> {
        let start = self.start(now);
        let earliest = start - self.length;
        let flushed: Vec<(String, i64, u64)> = {
            let mut subjects = self.locked();
            let mut flushed = Vec::new();
            for (name, subject) in subjects.iter_mut() {
                for counts in [&mut subject.current, &mut subject.previous] {
                    if counts.unflushed > 0 && counts.start >= earliest {
                        flushed.push((name.clone(), counts.start, counts.unflushed));
                        counts.unflushed = 0;
                    }
                }
            }
            flushed
        };
        let written = crate::database::transaction(conn, |conn| {
            for (subject, window, delta) in &flushed {
                diesel::sql_query(
                    "INSERT INTO rate_counts (scope, subject, window_start, count) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (scope, subject, window_start) \
                     DO UPDATE SET count = rate_counts.count + excluded.count",
                )
                .bind::<Text, _>(self.scope)
                .bind::<Text, _>(subject)
                .bind::<BigInt, _>(window)
                .bind::<BigInt, _>(i64::try_from(*delta).unwrap_or(i64::MAX))
                .execute(conn)?;
            }
            diesel::sql_query("DELETE FROM rate_counts WHERE scope = $1 AND window_start < $2")
                .bind::<Text, _>(self.scope)
                .bind::<BigInt, _>(earliest)
                .execute(conn)?;
            Ok::<_, StorageError>(())
        });
        if let Err(error) = written {
            // Counted again at the next exchange rather than lost.
            let mut subjects = self.locked();
            for (name, window, delta) in flushed {
                if let Some(counts) = subjects.get_mut(&name).and_then(|s| s.window(window)) {
                    counts.unflushed += delta;
                }
            }
            return Err(error);
        }
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            subject: String,
            #[diesel(sql_type = BigInt)]
            window_start: i64,
            #[diesel(sql_type = BigInt)]
            count: i64,
        }
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT subject, window_start, count FROM rate_counts \
             WHERE scope = $1 AND window_start >= $2",
        )
        .bind::<Text, _>(self.scope)
        .bind::<BigInt, _>(earliest)
        .load(conn)?;
        let mut subjects = self.locked();
        subjects.retain(|_, s| s.current.start >= earliest);
        for row in rows {
            let subject = subjects.entry(row.subject).or_default();
            subject.roll(start, self.length);
            if let Some(counts) = subject.window(row.window_start) {
                let total = u64::try_from(row.count).unwrap_or(0);
                let ours = counts.local - counts.unflushed;
                counts.others = total.saturating_sub(ours);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_slides_over_the_previous_one() {
        let windows = SharedWindows::new("test", Duration::from_secs(60));
        let start = 600.0;
        for _ in 0..4 {
            assert!(windows.hit("a", 4, start + 50.0).is_ok());
        }
        let refused = windows.hit("a", 4, start + 55.0);
        assert_eq!(
            refused,
            Err(Refused {
                wait: Duration::from_secs(5),
                first: true
            }),
            "four in the last minute; five seconds left of the window"
        );
        assert!(windows.hit("a", 4, start + 55.0).is_err_and(|r| !r.first));
        assert!(windows.hit("b", 4, start + 55.0).is_ok(), "per subject");
        // Just past the window's end the four still weigh almost fully (3.93)…
        assert!(windows.hit("a", 4, start + 61.0).is_ok());
        assert!(windows.hit("a", 4, start + 61.0).is_err());
        // …and halfway through the next window they weigh half: 1 + 2.
        assert!(windows.hit("a", 4, start + 90.0).is_ok());
        assert!(windows.hit("a", 4, start + 90.0).is_err());
        assert!(windows.check("a", 4, start + 200.0).is_ok(), "long after");
        assert!(windows.check("c", 1, start).is_ok(), "never seen");
    }
}

//! A circuit breaker per upstream: after a run of failures the upstream is left alone for a
//! while (callers get 503 at once instead of waiting on it), then one call probes it; its
//! success closes the circuit, its failure opens it again.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Consecutive failures that open the circuit.
pub const TRIP_AFTER: u32 = 5;
/// How long an open circuit holds calls off before a probe.
pub const COOL_DOWN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One call is probing the upstream.
    Probing,
}

/// The state of one upstream's circuit, as shown to its publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls are held off.
    Open,
    /// One call is probing the upstream.
    HalfOpen,
}

impl CircuitState {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// What the other server processes are told of this process's circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    /// This process opened it: hold calls off for this long.
    Open(Duration),
    /// This process's probe got through: calls go through again.
    Closed,
}

/// The circuit as the other server processes left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remote {
    /// A process opened it: calls are held off for this long.
    Open(Duration),
    /// A process opened it and its cool-down is over: each process probes on its own.
    Lapsed,
    /// No process holds it open.
    Closed,
}

#[derive(Debug)]
struct Inner {
    state: State,
    /// A change this process made that the others were not told of yet, numbered.
    unshared: Option<u64>,
    changes: u64,
    /// Whether the open circuit is known to the others (told or learnt from them), so that
    /// it closes when they say it closed.
    open_shared: bool,
}

/// One upstream's breaker.
#[derive(Debug)]
pub struct Breaker {
    inner: Mutex<Inner>,
    trip_after: u32,
    cool_down: Duration,
}

/// Leave to call the upstream; a probe's leave that ends without a verdict (the call never
/// went out) lets the next call probe.
#[derive(Debug)]
pub struct Leave {
    breaker: Arc<Breaker>,
    probe: bool,
    judged: bool,
}

impl Breaker {
    /// A closed breaker with the usual thresholds.
    pub fn new() -> Self {
        Self::with(TRIP_AFTER, COOL_DOWN)
    }

    /// A closed breaker that trips after `trip_after` failures and cools down for `cool_down`.
    pub fn with(trip_after: u32, cool_down: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                state: State::Closed { failures: 0 },
                unshared: None,
                changes: 0,
                open_shared: false,
            }),
            trip_after: trip_after.max(1),
            cool_down,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leave to call, or how long until the upstream may be tried again.
    pub fn admit(self: &Arc<Self>) -> Result<Leave, Duration> {
        let mut inner = self.lock();
        let now = Instant::now();
        let probe = match inner.state {
            State::Closed { .. } => false,
            State::Open { until } if now < until => return Err(until - now),
            State::Open { .. } => {
                inner.state = State::Probing;
                true
            }
            State::Probing => return Err(Duration::from_secs(1)),
        };
        Ok(Leave {
            breaker: Arc::clone(self),
            probe,
            judged: false,
        })
    }

    /// The circuit's state now.
    pub fn state(&self) -> (CircuitState, u32) {
        match self.lock().state {
            State::Closed { failures } => (CircuitState::Closed, failures),
            State::Open { until } if Instant::now() < until => {
                (CircuitState::Open, self.trip_after)
            }
            State::Open { .. } | State::Probing => (CircuitState::HalfOpen, self.trip_after),
        }
    }

    /// The change to tell the other processes of, with its number for [`Breaker::settle`];
    /// none while nothing changed (or while a probe is out).
    pub fn unshared(&self) -> Option<(u64, Shared)> {
        let inner = self.lock();
        let number = inner.unshared?;
        let shared = match inner.state {
            State::Open { until } => Shared::Open(until.saturating_duration_since(Instant::now())),
            State::Closed { .. } => Shared::Closed,
            State::Probing => return None,
        };
        Some((number, shared))
    }

    /// Takes in an exchange with the other processes: `told` is the number of the change they
    /// were told of (if any), `remote` the circuit as they left it. A change made since is
    /// kept for the next exchange; otherwise the circuit follows the others: it opens when
    /// another process opened it, and closes when the one open circuit that was shared was
    /// closed by another process's probe.
    pub fn settle(&self, told: Option<u64>, remote: Remote) {
        let mut inner = self.lock();
        if let Some(number) = told
            && inner.unshared == Some(number)
        {
            inner.unshared = None;
            inner.open_shared = matches!(inner.state, State::Open { .. });
        }
        if inner.unshared.is_some() {
            return;
        }
        match (inner.state, remote) {
            (State::Closed { .. }, Remote::Open(remaining)) => {
                inner.state = State::Open {
                    until: Instant::now() + remaining,
                };
                inner.open_shared = true;
            }
            (State::Open { .. }, Remote::Open(_) | Remote::Lapsed) => inner.open_shared = true,
            (State::Open { .. }, Remote::Closed) if inner.open_shared => {
                inner.state = State::Closed { failures: 0 };
                inner.open_shared = false;
            }
            _ => {}
        }
    }
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new()
    }
}

impl Inner {
    /// Records a change of this process's own to tell the others of.
    fn changed(&mut self, state: State) {
        self.state = state;
        self.changes += 1;
        self.unshared = Some(self.changes);
        self.open_shared = false;
    }
}

impl Leave {
    /// The upstream answered well: the circuit closes.
    pub fn succeeded(mut self) {
        self.judged = true;
        let mut inner = self.breaker.lock();
        let closed = State::Closed { failures: 0 };
        if self.probe && inner.state == State::Probing {
            inner.changed(closed);
        } else if matches!(inner.state, State::Closed { .. }) {
            inner.state = closed;
        }
        // Otherwise the circuit opened (here or elsewhere) while this call was out: it stays
        // open until a probe gets through.
    }

    /// The upstream failed (no answer in time, no connection, a server error): one more
    /// failure, or the circuit opens again after a failed probe.
    pub fn failed(mut self) {
        self.judged = true;
        let breaker = &self.breaker;
        let mut inner = breaker.lock();
        let open = State::Open {
            until: Instant::now() + breaker.cool_down,
        };
        match inner.state {
            State::Closed { failures } if failures + 1 >= breaker.trip_after => {
                metrics::counter!("pdx_gateway_circuit_opened_total").increment(1);
                inner.changed(open);
            }
            State::Closed { failures } => {
                inner.state = State::Closed {
                    failures: failures + 1,
                };
            }
            State::Probing if self.probe => inner.changed(open),
            // Another call's verdict came first; this late failure does not reopen it.
            _ => {}
        }
    }
}

impl Drop for Leave {
    fn drop(&mut self) {
        if self.probe && !self.judged {
            let mut inner = self.breaker.lock();
            if inner.state == State::Probing {
                // The probe never went out: the next call probes instead.
                inner.state = State::Open {
                    until: Instant::now(),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_failures_opens_the_circuit_and_a_probe_closes_it() {
        let breaker = Arc::new(Breaker::with(3, Duration::from_millis(30)));
        for _ in 0..2 {
            breaker.admit().map(Leave::failed).ok();
        }
        assert_eq!(breaker.state().0, CircuitState::Closed);
        // A success in between starts the count again.
        breaker.admit().map(Leave::succeeded).ok();
        for _ in 0..3 {
            breaker.admit().map(Leave::failed).ok();
        }
        assert_eq!(breaker.state().0, CircuitState::Open);
        assert!(breaker.admit().is_err(), "held off while open");
        std::thread::sleep(Duration::from_millis(40));
        let probe = breaker.admit();
        assert!(probe.is_ok(), "one probe after the cool-down");
        assert!(breaker.admit().is_err(), "only one probe at a time");
        probe.map(Leave::failed).ok();
        assert_eq!(
            breaker.state().0,
            CircuitState::Open,
            "a failed probe reopens it"
        );
        std::thread::sleep(Duration::from_millis(40));
        breaker.admit().map(Leave::succeeded).ok();
        assert_eq!(breaker.state(), (CircuitState::Closed, 0));
    }

    #[test]
    fn a_circuit_opened_elsewhere_opens_here_and_closes_when_a_probe_elsewhere_got_through() {
        let here = Arc::new(Breaker::with(2, Duration::from_millis(30)));
        assert_eq!(here.unshared(), None);
        here.settle(None, Remote::Open(Duration::from_secs(5)));
        assert_eq!(here.state().0, CircuitState::Open);
        assert!(
            here.admit().is_err(),
            "held off as the other process holds it"
        );
        assert_eq!(here.unshared(), None, "learnt, not to be told back");
        here.settle(None, Remote::Lapsed);
        assert_eq!(here.state().0, CircuitState::Open);
        here.settle(None, Remote::Closed);
        assert_eq!(here.state(), (CircuitState::Closed, 0));
        // Open only here and not told yet: nothing the others say closes it.
        for _ in 0..2 {
            here.admit().map(Leave::failed).ok();
        }
        let Some((number, Shared::Open(remaining))) = here.unshared() else {
            panic!("an opened circuit is to be told: {:?}", here.unshared())
        };
        assert!(remaining <= Duration::from_millis(30));
        here.settle(None, Remote::Closed);
        assert_eq!(here.state().0, CircuitState::Open);
        // Told: now it follows the others.
        here.settle(Some(number), Remote::Open(remaining));
        assert_eq!(here.unshared(), None);
        here.settle(None, Remote::Closed);
        assert_eq!(here.state().0, CircuitState::Closed);
        // A probe that got through here is told as a closing.
        for _ in 0..2 {
            here.admit().map(Leave::failed).ok();
        }
        let told = here.unshared().map(|(n, _)| n);
        here.settle(told, Remote::Open(Duration::from_millis(30)));
        std::thread::sleep(Duration::from_millis(40));
        here.admit().map(Leave::succeeded).ok();
        assert!(matches!(here.unshared(), Some((_, Shared::Closed))));
        // A change made after the exchange began is kept for the next one.
        here.settle(told, Remote::Open(Duration::from_secs(5)));
        assert_eq!(here.state().0, CircuitState::Closed);
        assert!(here.unshared().is_some());
    }

    #[test]
    fn a_probe_that_never_went_out_lets_another_call_probe() {
        let breaker = Arc::new(Breaker::with(1, Duration::from_millis(1)));
        breaker.admit().map(Leave::failed).ok();
        std::thread::sleep(Duration::from_millis(5));
        drop(breaker.admit());
        assert!(breaker.admit().is_ok());
    }
}

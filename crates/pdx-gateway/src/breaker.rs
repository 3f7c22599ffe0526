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

/// One upstream's breaker.
#[derive(Debug)]
pub struct Breaker {
    state: Mutex<State>,
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
            state: Mutex::new(State::Closed { failures: 0 }),
            trip_after: trip_after.max(1),
            cool_down,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leave to call, or how long until the upstream may be tried again.
    pub fn admit(self: &Arc<Self>) -> Result<Leave, Duration> {
        let mut state = self.lock();
        let now = Instant::now();
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } if now < until => return Err(until - now),
            State::Open { .. } => {
                *state = State::Probing;
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
        match *self.lock() {
            State::Closed { failures } => (CircuitState::Closed, failures),
            State::Open { until } if Instant::now() < until => {
                (CircuitState::Open, self.trip_after)
            }
            State::Open { .. } | State::Probing => (CircuitState::HalfOpen, self.trip_after),
        }
    }
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new()
    }
}

impl Leave {
    /// The upstream answered well: the circuit closes.
    pub fn succeeded(mut self) {
        self.judged = true;
        *self.breaker.lock() = State::Closed { failures: 0 };
    }

    /// The upstream failed (no answer in time, no connection, a server error): one more
    /// failure, or the circuit opens again after a failed probe.
    pub fn failed(mut self) {
        self.judged = true;
        let breaker = &self.breaker;
        let mut state = breaker.lock();
        let open = State::Open {
            until: Instant::now() + breaker.cool_down,
        };
        *state = match *state {
            State::Closed { failures } if failures + 1 >= breaker.trip_after => {
                metrics::counter!("pdx_gateway_circuit_opened_total").increment(1);
                open
            }
            State::Closed { failures } => State::Closed {
                failures: failures + 1,
            },
            State::Probing if self.probe => open,
            // Another call's verdict came first; this late failure does not reopen it.
            other => other,
        };
    }
}

impl Drop for Leave {
    fn drop(&mut self) {
        if self.probe && !self.judged {
            let mut state = self.breaker.lock();
            if *state == State::Probing {
                // The probe never went out: the next call probes instead.
                *state = State::Open {
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
    fn a_probe_that_never_went_out_lets_another_call_probe() {
        let breaker = Arc::new(Breaker::with(1, Duration::from_millis(1)));
        breaker.admit().map(Leave::failed).ok();
        std::thread::sleep(Duration::from_millis(5));
        drop(breaker.admit());
        assert!(breaker.admit().is_ok());
    }
}

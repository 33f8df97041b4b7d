//! Exponential backoff with full jitter, for reconnects and retried flushes: many processes that lost
//! the same database at the same moment must not all come back at the same moment.
//!
//! The caps are short on purpose. A database that is merely down (a restart, a failover) costs a
//! refused TCP connection per attempt, and the time from the server accepting connections again to
//! the first claim is bounded by these caps, not by how long it was down:
//! - the LISTEN connection retries at most every [`LISTEN_RECONNECT_MAX`] (500 ms);
//! - the claim loop, at most every poll interval (it is a poll);
//! - the completer, the scheduler and the maintenance election, at most every [`RECONNECT_MAX`]
//!   (1 s).
//!
//! And the first connection that succeeds again, whichever loop opened it, ends every other loop's
//! wait at once ([`crate::Database::reconnected`]).

use std::time::Duration;

use rand::Rng;

/// The longest wait between attempts of the completer's flush and the scheduler's pass.
pub(crate) const RECONNECT_MAX: Duration = Duration::from_secs(1);

/// The longest wait between attempts to reopen a LISTEN connection.
pub(crate) const LISTEN_RECONNECT_MAX: Duration = Duration::from_millis(500);

/// Delays that double from `min` up to `max`, each drawn uniformly from the upper half of the step.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            current: min,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = step / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }

    pub(crate) fn reset(&mut self) {
        self.current = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let d: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        assert!(d[0] >= Duration::from_millis(50) && d[0] <= Duration::from_millis(100));
        assert!(d[4] >= Duration::from_millis(200) && d[4] <= Duration::from_millis(400));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}

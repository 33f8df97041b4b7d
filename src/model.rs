//! Typed forms of the values the schema stores as text or enums.

use std::{fmt, str::FromStr, time::Duration};

use crate::Error;

/// Status of one execution (one attempt). See the state diagram in docs/architecture.md.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionStatus {
    /// Waiting for `visible_at` (a delayed job or a pending retry).
    Scheduled,
    /// Due; a worker may claim it.
    Queued,
    /// Claimed by a worker that holds a lease on it.
    Running,
    /// Finished successfully.
    Succeeded,
    /// This attempt failed; the next attempt's row exists.
    Failed,
    /// Attempts exhausted or a permanent error: the dead-letter queue.
    Dead,
    /// Cancelled by an operator.
    Cancelled,
}

impl ExecutionStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [ExecutionStatus; 7] = [
        Self::Scheduled,
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Dead,
        Self::Cancelled,
    ];

    /// The name used in SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether no further transition will happen to this row.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Dead | Self::Cancelled
        )
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExecutionStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "status",
                    s,
                    "scheduled, queued, running, succeeded, failed, dead or cancelled",
                )
            })
    }
}

/// Status of a task (`pgtide.tasks.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Fires on its schedule.
    Active,
    /// Paused by an operator: fires nothing until resumed.
    Paused,
    /// A one-shot that fired: its schedule is over.
    Finished,
    /// Its schedule cannot be read; `last_error` says why.
    Invalid,
}

impl TaskStatus {
    /// The name used in SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Finished => "finished",
            Self::Invalid => "invalid",
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the delay between attempts grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetryStrategy {
    /// Always `retry_base`.
    Fixed,
    /// `min(retry_max, retry_base * 2^(n-1))` after failed attempt n.
    #[default]
    Exponential,
}

impl RetryStrategy {
    /// The name used in SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fixed => "fixed",
            Self::Exponential => "exponential",
        }
    }

    /// The delay after failed attempt `attempt` (1-based), before jitter. Mirrors
    /// `pgtide.retry_delay`, which is what the database actually applies.
    pub fn delay(self, base: Duration, max: Duration, attempt: i32) -> Duration {
        match self {
            Self::Fixed => base,
            Self::Exponential => {
                let exponent = (attempt.max(1) - 1).min(1000);
                let secs = base.as_secs_f64() * 2f64.powi(exponent);
                Duration::from_secs_f64(secs.min(max.as_secs_f64()))
            }
        }
    }
}

impl FromStr for RetryStrategy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fixed" => Ok(Self::Fixed),
            "exponential" => Ok(Self::Exponential),
            other => Err(Error::invalid(
                "retry_strategy",
                other,
                "'fixed' or 'exponential'",
            )),
        }
    }
}

impl fmt::Display for RetryStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_delay_doubles_and_saturates() {
        let s = RetryStrategy::Exponential;
        let base = Duration::from_secs(10);
        let max = Duration::from_secs(3600);
        assert_eq!(s.delay(base, max, 1), Duration::from_secs(10));
        assert_eq!(s.delay(base, max, 2), Duration::from_secs(20));
        assert_eq!(s.delay(base, max, 4), Duration::from_secs(80));
        assert_eq!(s.delay(base, max, 50), max);
        assert_eq!(RetryStrategy::Fixed.delay(base, max, 7), base);
    }

    #[test]
    fn statuses_round_trip() {
        for status in ExecutionStatus::ALL {
            assert_eq!(status.as_str().parse::<ExecutionStatus>().unwrap(), status);
        }
        assert!("done".parse::<ExecutionStatus>().is_err());
    }
}

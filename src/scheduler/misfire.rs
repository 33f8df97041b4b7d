//! Missed slots: what a scheduler pass fires when a task's pending slot has come, on time or late.
//!
//! This is Quartz's model. The lateness of the pending slot decides, not each slot's: a slot late by
//! at most the threshold is on time and fires, together with the on-time slots after it. A pending slot
//! later than that is a misfire, and the task's policy decides what fires.

use std::{str::FromStr, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};

use super::schedule::{Schedule, ScheduleError};

/// What to do about slots that were missed (the scheduler was down, or the task was late).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misfire {
    /// Fire once for the latest missed slot, then continue from now (the default).
    FireOnce,
    /// Fire nothing for missed slots.
    Skip,
    /// Fire every missed slot, up to [`CATCH_UP_LIMIT`].
    CatchUp,
}

impl FromStr for Misfire {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fire_once" => Ok(Self::FireOnce),
            "skip" => Ok(Self::Skip),
            "catch_up" => Ok(Self::CatchUp),
            other => Err(ScheduleError {
                field: "misfire",
                value: other.into(),
                expected: "'fire_once', 'skip' or 'catch_up'".into(),
            }),
        }
    }
}

/// Most slots one catch-up fires.
pub const CATCH_UP_LIMIT: usize = 1000;

/// The slots to fire now and the next slot to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Slots to fire, oldest first.
    pub fire: Vec<DateTime<Utc>>,
    /// The next pending slot; `None` when the schedule is over (a fired one-shot).
    pub next: Option<DateTime<Utc>>,
    /// Slots that were missed and deliberately not fired.
    pub skipped: usize,
}

/// Decides what to fire for a task whose pending slot `due` has come, at database time `now`.
///
/// A slot late by at most `threshold` is on time and fires, and so do the on-time slots after it
/// (a scheduler that lags a little never loses slots). A pending slot later than that is a misfire,
/// and `misfire` decides: fire the latest missed slot once, fire none, or fire them all (capped).
/// This is Quartz's model: the lateness of the pending slot decides, not each slot's.
pub fn plan(
    schedule: &Schedule,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    misfire: Misfire,
    threshold: Duration,
) -> Plan {
    let next_after = |t: DateTime<Utc>| schedule.next_after(due, t);
    if due > now {
        return Plan {
            fire: Vec::new(),
            next: Some(due),
            skipped: 0,
        };
    }
    let threshold = TimeDelta::from_std(threshold).unwrap_or(TimeDelta::MAX);
    if now - due <= threshold {
        let mut fire = vec![due];
        let mut next = next_after(due);
        while let Some(slot) = next.filter(|s| *s <= now && fire.len() < CATCH_UP_LIMIT) {
            fire.push(slot);
            next = next_after(slot);
        }
        return Plan {
            fire,
            next,
            skipped: 0,
        };
    }
    match misfire {
        Misfire::CatchUp => {
            let mut fire = vec![due];
            let mut next = next_after(due);
            while let Some(slot) = next.filter(|s| *s <= now) {
                if fire.len() == CATCH_UP_LIMIT {
                    // Past the cap, the rest are dropped and the schedule continues from now.
                    let resume = next_after(now);
                    let mut skipped = 0;
                    let mut s = Some(slot);
                    while let Some(x) = s.filter(|x| *x <= now && skipped < 1_000_000) {
                        skipped += 1;
                        s = next_after(x);
                    }
                    return Plan {
                        fire,
                        next: resume,
                        skipped,
                    };
                }
                fire.push(slot);
                next = next_after(slot);
            }
            Plan {
                fire,
                next,
                skipped: 0,
            }
        }
        Misfire::FireOnce => {
            let latest = latest_slot_at_or_before(schedule, due, now);
            Plan {
                fire: vec![latest],
                next: next_after(now),
                skipped: usize::from(latest != due),
            }
        }
        Misfire::Skip => Plan {
            fire: Vec::new(),
            next: next_after(now),
            skipped: 1,
        },
    }
}

/// The latest slot in `[due, now]`, given that `due` is one.
fn latest_slot_at_or_before(
    schedule: &Schedule,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    match schedule {
        Schedule::Every(every) => {
            let step_us = TimeDelta::from_std(*every)
                .ok()
                .and_then(|d| d.num_microseconds())
                .unwrap_or(1)
                .max(1);
            let elapsed_us = (now - due).num_microseconds().unwrap_or(0);
            due + TimeDelta::microseconds(elapsed_us / step_us * step_us)
        }
        Schedule::Once(at) => *at,
        Schedule::Cron { .. } => {
            // Walk back in growing windows so a long outage costs a few steps, not one per slot.
            let mut window = TimeDelta::minutes(1);
            loop {
                let start = (now - window).max(due);
                let mut latest = None;
                let mut cursor = if start == due {
                    Some(due)
                } else {
                    schedule.next_after(due, start - TimeDelta::microseconds(1))
                };
                let mut steps = 0;
                while let Some(slot) = cursor.filter(|s| *s <= now) {
                    latest = Some(slot);
                    cursor = schedule.next_after(due, slot);
                    steps += 1;
                    if steps > 10_000 {
                        break;
                    }
                }
                if let Some(slot) = latest {
                    return slot;
                }
                if start == due {
                    return due;
                }
                window = window * 8;
            }
        }
    }
}

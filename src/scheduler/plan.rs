//! What one scheduler pass does to a batch of tasks, decided without I/O: which slots to fire, and
//! each task's next slot, status and error. `Scheduler::run_once` reads the batch, calls
//! [`plan`], and writes the outcome; the rules live here, where unit tests reach them directly.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    misfire::{self, Misfire},
    schedule::{Schedule, ScheduleError},
};
use crate::model::TaskStatus;

/// A task's row as one pass sees it.
#[derive(Debug, Clone)]
pub(crate) struct TaskRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) schedule: Result<Schedule, ScheduleError>,
    pub(crate) misfire: Misfire,
    pub(crate) overlap_skip: bool,
    pub(crate) next_run_at: Option<DateTime<Utc>>,
}

/// The new state of one task after a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Update {
    pub(crate) id: i64,
    pub(crate) next_run_at: Option<DateTime<Utc>>,
    pub(crate) status: TaskStatus,
    pub(crate) last_error: Option<String>,
}

/// What a pass should do to a batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Planned {
    /// Slots to fire, as (task, slot), oldest first per task.
    pub(crate) fire: Vec<(i64, DateTime<Utc>)>,
    /// Every task's new state.
    pub(crate) updates: Vec<Update>,
    /// Tasks whose first slot was computed (new, resumed or changed).
    pub(crate) planned: usize,
    /// Tasks that became invalid, with the reason.
    pub(crate) invalid: Vec<(i64, String)>,
    /// Missed slots the misfire policy dropped.
    pub(crate) skipped_misfire: usize,
    /// Slots not fired because `overlap = 'skip'` allows one pending execution.
    pub(crate) skipped_overlap: usize,
}

/// Decides the pass for `tasks` at database time `now`. A slot late by more than
/// `misfire_threshold` is a misfire, handled by the task's policy.
pub(crate) fn plan(tasks: &[TaskRow], now: DateTime<Utc>, misfire_threshold: Duration) -> Planned {
    let mut out = Planned::default();
    for task in tasks {
        let schedule = match &task.schedule {
            Ok(schedule) => schedule,
            Err(e) => {
                let reason = format!(
                    "invalid {} {:?} for task {:?}: {}",
                    e.field, e.value, task.name, e.expected
                );
                tracing::warn!(task = task.id, %reason, "task marked invalid");
                out.invalid.push((task.id, reason.clone()));
                out.updates.push(Update {
                    id: task.id,
                    next_run_at: None,
                    status: TaskStatus::Invalid,
                    last_error: Some(reason),
                });
                continue;
            }
        };
        let Some(due) = task.next_run_at else {
            out.planned += 1;
            let first = schedule.first_slot(now);
            out.updates.push(Update {
                id: task.id,
                next_run_at: first,
                status: status_after(first),
                last_error: None,
            });
            continue;
        };
        let mut plan = misfire::plan(schedule, due, now, task.misfire, misfire_threshold);
        if plan.skipped > 0 {
            tracing::info!(task = task.id, name = %task.name, skipped = plan.skipped,
                policy = ?task.misfire, "missed slots not fired (misfire policy)");
            out.skipped_misfire += plan.skipped;
        }
        if task.overlap_skip && plan.fire.len() > 1 {
            // At most one execution can be pending for such a task: fire the latest slot.
            out.skipped_overlap += plan.fire.len() - 1;
            plan.fire.drain(..plan.fire.len() - 1);
        }
        out.fire
            .extend(plan.fire.iter().map(|slot| (task.id, *slot)));
        out.updates.push(Update {
            id: task.id,
            next_run_at: plan.next,
            status: status_after(plan.next),
            last_error: None,
        });
    }
    out
}

/// A task with a next slot stays active; one without (a fired one-shot) is finished.
fn status_after(next: Option<DateTime<Utc>>) -> TaskStatus {
    if next.is_some() {
        TaskStatus::Active
    } else {
        TaskStatus::Finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn task(id: i64, cron: &str, next: Option<&str>) -> TaskRow {
        TaskRow {
            id,
            name: format!("t{id}"),
            schedule: Schedule::from_columns(Some(cron), None, None, "UTC"),
            misfire: Misfire::FireOnce,
            overlap_skip: false,
            next_run_at: next.map(at),
        }
    }

    const THRESHOLD: Duration = Duration::from_secs(60);

    #[test]
    fn a_new_task_gets_its_first_slot_and_fires_nothing() {
        let planned = plan(
            &[task(1, "*/5 * * * *", None)],
            at("2026-12-04T10:01:00Z"),
            THRESHOLD,
        );
        assert_eq!(planned.planned, 1);
        assert!(planned.fire.is_empty());
        assert_eq!(
            planned.updates,
            vec![Update {
                id: 1,
                next_run_at: Some(at("2026-12-04T10:05:00Z")),
                status: TaskStatus::Active,
                last_error: None,
            }]
        );
    }

    #[test]
    fn a_due_slot_fires_and_the_task_moves_to_the_next() {
        let planned = plan(
            &[task(1, "*/5 * * * *", Some("2026-12-04T10:05:00Z"))],
            at("2026-12-04T10:05:00.002Z"),
            THRESHOLD,
        );
        assert_eq!(planned.fire, vec![(1, at("2026-12-04T10:05:00Z"))]);
        assert_eq!(
            planned.updates[0].next_run_at,
            Some(at("2026-12-04T10:10:00Z"))
        );
        assert_eq!(planned.updates[0].status, TaskStatus::Active);
    }

    #[test]
    fn a_slot_not_yet_due_fires_nothing_and_keeps_its_time() {
        let planned = plan(
            &[task(1, "*/5 * * * *", Some("2026-12-04T10:05:00Z"))],
            at("2026-12-04T10:04:59Z"),
            THRESHOLD,
        );
        assert!(planned.fire.is_empty());
        assert_eq!(
            planned.updates[0].next_run_at,
            Some(at("2026-12-04T10:05:00Z"))
        );
    }

    #[test]
    fn downtime_follows_the_misfire_policy() {
        let now = at("2026-12-04T11:00:30Z");
        let mut once = task(1, "*/5 * * * *", Some("2026-12-04T10:05:00Z"));
        let mut skip = task(2, "*/5 * * * *", Some("2026-12-04T10:05:00Z"));
        let mut all = task(3, "*/5 * * * *", Some("2026-12-04T10:05:00Z"));
        once.misfire = Misfire::FireOnce;
        skip.misfire = Misfire::Skip;
        all.misfire = Misfire::CatchUp;
        let planned = plan(&[once, skip, all], now, THRESHOLD);
        let fired = |id| planned.fire.iter().filter(|(t, _)| *t == id).count();
        assert_eq!(fired(1), 1, "fire_once fires the latest missed slot");
        assert_eq!(fired(2), 0, "skip fires nothing");
        assert_eq!(
            fired(3),
            12,
            "catch_up fires every slot from 10:05 to 11:00"
        );
        assert!(planned.skipped_misfire > 0);
        for update in &planned.updates {
            assert_eq!(update.next_run_at, Some(at("2026-12-04T11:05:00Z")));
        }
    }

    #[test]
    fn overlap_skip_fires_only_the_latest_of_several_due_slots() {
        let mut t = task(1, "*/5 * * * *", Some("2026-12-04T10:05:00Z"));
        t.misfire = Misfire::CatchUp;
        t.overlap_skip = true;
        let planned = plan(&[t], at("2026-12-04T10:20:10Z"), THRESHOLD);
        assert_eq!(planned.fire, vec![(1, at("2026-12-04T10:20:00Z"))]);
        assert_eq!(planned.skipped_overlap, 3);
    }

    #[test]
    fn a_fired_one_shot_is_finished_and_a_bad_schedule_invalid() {
        let one_shot = TaskRow {
            schedule: Schedule::from_columns(None, None, Some(at("2026-12-04T10:00:00Z")), "UTC"),
            ..task(1, "* * * * *", Some("2026-12-04T10:00:00Z"))
        };
        let bad = task(2, "61 * * * *", None);
        let planned = plan(&[one_shot, bad], at("2026-12-04T10:00:01Z"), THRESHOLD);
        assert_eq!(planned.fire, vec![(1, at("2026-12-04T10:00:00Z"))]);
        assert_eq!(planned.updates[0].status, TaskStatus::Finished);
        assert_eq!(planned.updates[0].next_run_at, None);
        assert_eq!(planned.updates[1].status, TaskStatus::Invalid);
        let error = planned.updates[1].last_error.as_deref().unwrap();
        assert!(
            error.contains("minute") && error.contains("\"t2\""),
            "{error}"
        );
        assert_eq!(planned.invalid.len(), 1);
    }
}

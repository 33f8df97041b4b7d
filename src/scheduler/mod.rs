//! The scheduler: fires the tasks of `pgtide.tasks` into `pgtide.executions`.
//!
//! Any number of instances may run, with no leader. Each pass locks the due tasks with
//! `FOR UPDATE SKIP LOCKED`, oldest slot first, inserts one execution per slot with the slot's
//! deterministic key (`task:<id>:<slot>`, `ON CONFLICT DO NOTHING`), and advances `next_run_at` in
//! the same transaction. Two instances can therefore never fire a slot twice: the row lock keeps them
//! from planning the same task at once, and the unique key stands behind it should anything else
//! (a restore, a manual insert) try.
//!
//! Due-ness is judged by the database clock. Between passes an instance sleeps until the earliest
//! `next_run_at`, and a `pgtide_tasks` notification (sent by triggers whenever a task is created or
//! its schedule or status changes) wakes it at once, so a new task is planned within milliseconds.
//! A task whose cron or time zone does not parse becomes `invalid` with the reason in `last_error`;
//! it never stops the other tasks.

pub mod describe;
pub mod misfire;
mod plan;
pub mod schedule;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use self::{
    misfire::Misfire,
    plan::{plan, TaskRow},
    schedule::Schedule,
};
use crate::{
    backoff::{Backoff, RECONNECT_MAX},
    notify, sql, Database, Result,
};

/// Settings of a scheduler instance.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// A slot late by more than this is a misfire, and the task's `misfire` policy applies; a slot
    /// less late fires normally (a briefly lagging scheduler loses nothing).
    pub misfire_threshold: Duration,
    /// Tasks planned per transaction.
    pub batch_size: usize,
    /// Longest sleep between passes when notifications flow (a safety net, not the mechanism).
    pub max_sleep: Duration,
    /// Keep a LISTEN connection so a new or changed task is planned at once. `false` is poll-only
    /// mode (for transaction poolers): changes are then seen within a second.
    pub listen: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            misfire_threshold: Duration::from_secs(60),
            batch_size: 100,
            max_sleep: Duration::from_secs(30),
            listen: true,
        }
    }
}

/// One slot that a pass fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The task.
    pub task_id: i64,
    /// The slot it fulfils (`executions.scheduled_for`).
    pub slot: DateTime<Utc>,
    /// The execution inserted for it.
    pub execution_id: i64,
}

/// What one pass did.
#[derive(Debug, Clone, Default)]
pub struct Pass {
    /// Executions inserted.
    pub fired: Vec<Fired>,
    /// Tasks whose first slot was computed (new, resumed or changed).
    pub planned: usize,
    /// Tasks marked invalid, with the reason.
    pub invalid: Vec<(i64, String)>,
    /// Slots not fired because an earlier execution was still pending (`overlap = 'skip'`).
    pub skipped_overlap: usize,
    /// Slots dropped by the misfire policy.
    pub skipped_misfire: usize,
    /// The earliest pending slot after the pass.
    pub next_due: Option<DateTime<Utc>>,
    /// The database clock at the end of the pass.
    pub db_now: Option<DateTime<Utc>>,
}

/// A scheduler instance.
#[derive(Clone)]
pub struct Scheduler {
    db: Database,
    config: SchedulerConfig,
    wake: Arc<Notify>,
    listening: Arc<AtomicBool>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler on `db`.
    pub fn new(db: Database, config: SchedulerConfig) -> Self {
        Self {
            db,
            config,
            wake: Arc::new(Notify::new()),
            listening: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the `pgtide_tasks` LISTEN connection is up.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    /// One pass: plans unplanned tasks and fires every due slot, in batches, each batch in one
    /// transaction. `now` overrides the database clock (tests use it to stand at a DST transition);
    /// `None` uses `now()`.
    ///
    /// # Errors
    /// The database's error; batches committed before it stay committed.
    ///
    /// # Transactions and locks
    /// Each batch locks its tasks `FOR UPDATE SKIP LOCKED`, inserts the executions and updates the
    /// tasks, and commits. Tasks locked by another instance are left to it.
    pub async fn run_once(&self, now: Option<DateTime<Utc>>) -> Result<Pass> {
        let mut pass = Pass::default();
        let mut client = self.db.client().await?;
        loop {
            let tx = client.transaction().await?;
            let rows = self
                .db
                .query(
                    &tx,
                    sql::SCHEDULER_CLAIM,
                    &[&now, &(self.config.batch_size as i64)],
                )
                .await?;
            if rows.is_empty() {
                tx.commit().await?;
                break;
            }
            let full_batch = rows.len() >= self.config.batch_size;
            let db_now: DateTime<Utc> = rows[0].get("db_now");
            let tasks: Vec<TaskRow> = rows.iter().map(task_row).collect();
            let planned = plan(&tasks, db_now, self.config.misfire_threshold);
            pass.planned += planned.planned;
            pass.invalid.extend(planned.invalid);
            pass.skipped_misfire += planned.skipped_misfire;
            pass.skipped_overlap += planned.skipped_overlap;
            let updates = planned.updates;
            let (fire_ids, fire_slots): (Vec<i64>, Vec<DateTime<Utc>>) =
                planned.fire.into_iter().unzip();

            let mut last_run: std::collections::HashMap<i64, DateTime<Utc>> = Default::default();
            if !fire_ids.is_empty() {
                let inserted = self
                    .db
                    .query(&tx, sql::SCHEDULER_FIRE, &[&fire_ids, &fire_slots])
                    .await?;
                for row in &inserted {
                    let fired = Fired {
                        execution_id: row.get("id"),
                        task_id: row.get("task_id"),
                        slot: row.get("scheduled_for"),
                    };
                    let entry = last_run.entry(fired.task_id).or_insert(fired.slot);
                    *entry = (*entry).max(fired.slot);
                    pass.fired.push(fired);
                }
                let inserted: std::collections::HashSet<(i64, DateTime<Utc>)> =
                    pass.fired.iter().map(|f| (f.task_id, f.slot)).collect();
                for (task_id, slot) in fire_ids.iter().zip(&fire_slots) {
                    if inserted.contains(&(*task_id, *slot)) {
                        continue;
                    }
                    let task = tasks
                        .iter()
                        .find(|t| t.id == *task_id)
                        .expect("fired task is in the batch");
                    if task.overlap_skip {
                        pass.skipped_overlap += 1;
                        tracing::info!(task = task_id, name = %task.name, %slot,
                            "slot skipped: an earlier execution is still pending or running (overlap = skip)");
                    } else {
                        tracing::debug!(task = task_id, %slot, "slot was already fired");
                    }
                }
            }
            let ids: Vec<i64> = updates.iter().map(|u| u.id).collect();
            let next: Vec<Option<DateTime<Utc>>> = updates.iter().map(|u| u.next_run_at).collect();
            let last: Vec<Option<DateTime<Utc>>> = updates
                .iter()
                .map(|u| last_run.get(&u.id).copied())
                .collect();
            let status: Vec<&str> = updates.iter().map(|u| u.status.as_str()).collect();
            let errors: Vec<Option<&str>> =
                updates.iter().map(|u| u.last_error.as_deref()).collect();
            self.db
                .execute(
                    &tx,
                    sql::SCHEDULER_UPDATE,
                    &[&ids, &next, &last, &status, &errors],
                )
                .await?;
            tx.commit().await?;
            if !full_batch {
                break;
            }
        }
        let next = self
            .db
            .query_one(&client, sql::SCHEDULER_NEXT_DUE, &[])
            .await?;
        pass.next_due = next.get("next_due");
        pass.db_now = next.get("db_now");
        Ok(pass)
    }

    /// Runs passes until `shutdown`: after each, sleeps until the next slot is due, or until a
    /// `pgtide_tasks` notification arrives.
    pub async fn run(&self, shutdown: CancellationToken) {
        let listener = self.config.listen.then(|| {
            tokio::spawn(notify::listen(
                self.db.clone(),
                &[sql::LISTEN_TASKS],
                notify::Keepalive::every(Duration::from_secs(15)),
                self.listening.clone(),
                shutdown.clone(),
                {
                    let wake = self.wake.clone();
                    move |_| wake.notify_one()
                },
            ))
        });
        let mut backoff = Backoff::new(Duration::from_millis(50), RECONNECT_MAX);
        tracing::info!("scheduler started");
        while !shutdown.is_cancelled() {
            let sleep = match self.run_once(None).await {
                Ok(pass) => {
                    backoff.reset();
                    for fired in &pass.fired {
                        tracing::debug!(task = fired.task_id, slot = %fired.slot, execution = fired.execution_id, "fired");
                    }
                    // Without notifications, poll every second so new tasks are still seen soon.
                    let cap = if self.is_listening() {
                        self.config.max_sleep
                    } else {
                        Duration::from_secs(1)
                    };
                    match (pass.next_due, pass.db_now) {
                        (Some(due), Some(now)) => {
                            (due - now).to_std().unwrap_or(Duration::ZERO).min(cap)
                        }
                        _ => cap,
                    }
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in = ?delay, "scheduler pass failed");
                    delay
                }
            };
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = self.wake.notified() => {}
                () = self.db.reconnected() => {}
                () = shutdown.cancelled() => {}
            }
        }
        if let Some(listener) = listener {
            let _ = listener.await;
        }
        tracing::info!("scheduler stopped");
    }

    /// The next `n` slots of the task named `name`, from now (for previews).
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] when there is no such task or its schedule does not parse.
    pub async fn preview(db: &Database, name: &str, n: usize) -> Result<Preview> {
        let client = db.client().await?;
        let row = db
            .query_opt(&client, sql::TASK_SCHEDULE, &[&name])
            .await?
            .ok_or_else(|| crate::Error::invalid("name", name, "the name of an existing task"))?;
        let now: DateTime<Utc> = row.get("db_now");
        let timezone: String = row.get("timezone");
        let schedule = schedule_of(&row).map_err(|e| crate::Error::Invalid {
            field: e.field,
            value: format!("{:?}", e.value),
            expected: e.expected,
        })?;
        let mut slots = Vec::with_capacity(n);
        let next_run_at: Option<DateTime<Utc>> = row.get("next_run_at");
        let anchor = next_run_at.unwrap_or(now);
        // An interval task's planned slot anchors the ones after it; otherwise count from now.
        let mut at = match (&schedule, next_run_at) {
            (Schedule::Every(_), Some(next)) if next > now => Some(next),
            _ => schedule.next_after(anchor, now),
        };
        while let Some(slot) = at.filter(|_| slots.len() < n) {
            slots.push(slot);
            at = schedule.next_after(anchor, slot);
        }
        Ok(Preview {
            timezone,
            status: row.get("status"),
            slots,
        })
    }
}

/// The next slots of a task.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preview {
    /// The task's time zone (cron is read in it).
    pub timezone: String,
    /// The task's status.
    pub status: String,
    /// Upcoming slots.
    pub slots: Vec<DateTime<Utc>>,
}

fn schedule_of(
    row: &tokio_postgres::Row,
) -> std::result::Result<Schedule, schedule::ScheduleError> {
    let every = row
        .get::<_, Option<f64>>("every_secs")
        .map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO));
    Schedule::from_columns(
        row.get("cron"),
        every,
        row.get("run_at"),
        row.get("timezone"),
    )
}

fn task_row(row: &tokio_postgres::Row) -> TaskRow {
    let misfire: String = row.get("misfire");
    TaskRow {
        id: row.get("id"),
        name: row.get("name"),
        schedule: schedule_of(row),
        // The table's CHECK constraint admits only the three known values.
        misfire: misfire.parse().unwrap_or(Misfire::FireOnce),
        overlap_skip: row.get::<_, String>("overlap") == "skip",
        next_run_at: row.get("next_run_at"),
    }
}

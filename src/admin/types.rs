//! What the admin API returns: rows of pgtide's tables and views, typed for the CLI and serialized
//! as-is by the HTTP API. Intervals stay in Postgres' text form ("00:05:00", "1 day").

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A task definition with its latest outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Identity.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Handler name.
    pub handler: String,
    /// Payload given to every execution (absent in listings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Cron schedule, if it is a cron task.
    #[serde(default)]
    pub cron: Option<String>,
    /// Interval schedule, if it is an interval task.
    #[serde(default)]
    pub every: Option<String>,
    /// One-shot time, if it is a one-shot task.
    #[serde(default)]
    pub run_at: Option<DateTime<Utc>>,
    /// Time zone of the cron schedule.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Queue of its executions.
    pub queue: String,
    /// The schedule in one line.
    #[serde(default)]
    pub schedule: Option<String>,
    /// active, paused, finished or invalid.
    pub status: String,
    /// Next slot.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Latest slot fired.
    pub last_run_at: Option<DateTime<Utc>>,
    /// Status of the latest execution.
    #[serde(default)]
    pub last_outcome: Option<String>,
    /// Share of the last 20 finished attempts that succeeded.
    #[serde(default)]
    pub success_rate: Option<f64>,
    /// Why the task is invalid.
    pub last_error: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Every other column (policy, timestamps), as stored.
    #[serde(flatten)]
    pub more: serde_json::Map<String, Value>,
}

/// One execution (attempt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// Identity.
    pub id: i64,
    /// Task that fired it, if any.
    pub task_id: Option<i64>,
    /// The task's name at fire time.
    pub task_name: Option<String>,
    /// Queue.
    pub queue: String,
    /// Handler name.
    pub handler: String,
    /// Status.
    pub status: String,
    /// Attempt number.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Idempotency key.
    pub idempotency_key: String,
    /// The attempt this one retries.
    pub retry_of: Option<i64>,
    /// When it is or was due.
    pub visible_at: DateTime<Utc>,
    /// When a worker claimed it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// The worker that claimed it.
    pub worker_id: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Payload (absent in listings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Result (absent in listings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Every other column, as stored.
    #[serde(flatten)]
    pub more: serde_json::Map<String, Value>,
}

/// One execution and its whole retry chain, first attempt first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDetail {
    /// The execution asked for, with payload and result.
    pub execution: Execution,
    /// Every attempt of its chain, including this one (payloads left out).
    pub chain: Vec<Execution>,
}

/// A queue: its settings and counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    /// Name.
    pub queue: String,
    /// Whether workers skip it.
    pub paused: bool,
    /// Running-row cap across workers.
    pub concurrency_limit: Option<i32>,
    /// When it was paused.
    pub paused_at: Option<DateTime<Utc>>,
    /// Rows waiting for their time.
    pub scheduled: i64,
    /// Due rows.
    pub queued: i64,
    /// Claimed rows.
    pub running: i64,
    /// Succeeded attempts kept.
    pub succeeded: i64,
    /// Failed attempts kept.
    pub failed: i64,
    /// Dead rows.
    pub dead: i64,
    /// Cancelled rows.
    pub cancelled: i64,
    /// Age of the oldest due row, in seconds.
    pub oldest_due_secs: Option<f64>,
    /// Attempts finished in the last 5 minutes.
    pub completed_5m: i64,
    /// Share of those that failed.
    pub failure_rate_5m: f64,
    /// Running-row cap of each concurrency key.
    #[serde(default)]
    pub key_concurrency_limit: Option<i32>,
    /// How many keys have a cap of their own.
    #[serde(default)]
    pub key_limit_overrides: i64,
    /// Most starts per `rate_per`.
    #[serde(default)]
    pub rate_max_starts: Option<i32>,
    /// The rate limit's window, in Postgres' interval text ("00:00:01").
    #[serde(default)]
    pub rate_per: Option<String>,
    /// Whether the rate limit applies per key.
    #[serde(default)]
    pub rate_per_key: bool,
}

/// One concurrency key of a queue: who is waiting, who is running, and the cap that applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyStat {
    /// Queue.
    pub queue: String,
    /// The key; `None` for jobs without one.
    pub concurrency_key: Option<String>,
    /// Due rows waiting.
    pub queued: i64,
    /// Claimed rows.
    pub running: i64,
    /// Age of the oldest due row, in seconds.
    pub oldest_due_secs: Option<f64>,
    /// The cap that applies (the key's own, else the queue's key limit).
    pub concurrency_limit: Option<i32>,
}

/// A dead letter requeued by `retry_dead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requeued {
    /// The dead execution.
    pub dead_id: i64,
    /// Its fresh attempt.
    pub id: i64,
}

/// An alert firing now (a row of `pgtide.alerts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The firing event.
    pub id: i64,
    /// The rule's name.
    pub rule: String,
    /// The rule's kind.
    pub kind: String,
    /// The queue, handler or task it holds for.
    pub subject: String,
    /// The value measured when it fired.
    pub value: Option<f64>,
    /// One line for people.
    pub message: String,
    /// When it started firing.
    pub since: DateTime<Utc>,
}

/// A worker process (a row of `pgtide.workers`) with its running count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Worker id.
    pub id: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: i32,
    /// Queues it claims from.
    pub queues: Vec<String>,
    /// Slots.
    pub concurrency: i32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Last heartbeat.
    pub last_seen_at: DateTime<Utc>,
    /// Rows it runs now.
    pub running: i64,
    /// Whether its heartbeat is under a minute old.
    pub live: bool,
    /// Seconds since the last heartbeat.
    pub heartbeat_age_secs: f64,
}

/// A leader lease (a row of `pgtide.leader`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderInfo {
    /// The lease's name (`maintenance`).
    pub name: String,
    /// Who holds it.
    pub holder: String,
    /// Since when.
    pub acquired_at: DateTime<Utc>,
    /// Until when, unless renewed.
    pub expires_at: DateTime<Utc>,
    /// Whether it is held now.
    pub held: bool,
}

/// One row of `pgtide.audit_log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Identity.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// The database role.
    pub actor: String,
    /// sql, cli, http, console or runtime.
    pub surface: String,
    /// The client's application_name.
    pub application_name: Option<String>,
    /// What was done (`queue.pause`, `task.trigger`, ...).
    pub action: String,
    /// task, queue or execution.
    pub object_type: String,
    /// Its name or id.
    pub object_id: String,
    /// The changed values before.
    pub old: Option<Value>,
    /// The changed values after.
    pub new: Option<Value>,
}

/// Attempts finished in one queue in one minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueMinute {
    /// Queue.
    pub queue: String,
    /// The minute.
    pub minute: DateTime<Utc>,
    /// Succeeded attempts.
    pub succeeded: i64,
    /// Failed or dead attempts.
    pub failed: i64,
}

//! The admin API shared by the CLI and the HTTP API.
//!
//! Every change goes through pgtide's SQL functions (`pgtide.pause_task`, `pgtide.retry_dead`, ...)
//! and every read through its tables and views, exactly as a psql user would do it: this module adds
//! typing and argument handling, never rules of its own. The statements are in `sql/queries/admin/`.
//!
//! A surface opens its [`Database`] with [`Database::connect_as`] and its own `application_name`
//! (`pgtide-cli`, `pgtide-http`), which the audit triggers record as the surface of each change.

mod observe;
mod types;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;

pub use self::types::{
    Alert, AuditEntry, Execution, JobDetail, KeyStat, LeaderInfo, Queue, QueueMinute, Requeued,
    Task, WorkerInfo,
};
use crate::{
    model::{ExecutionStatus, RetryStrategy},
    sql, Database, Error, NewJob, Result,
};

/// A task to create: `name`, `handler` and one schedule are required; every other field takes
/// `pgtide.create_task`'s default when `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Unique name.
    pub name: String,
    /// Handler name.
    pub handler: String,
    /// Payload for every execution.
    #[serde(default)]
    pub payload: Option<Value>,
    /// Crontab schedule (5 or 6 fields, or an @alias).
    #[serde(default)]
    pub cron: Option<String>,
    /// Interval schedule ("15m", "1h30m").
    #[serde(default, with = "humantime_serde")]
    pub every: Option<Duration>,
    /// One-shot time.
    #[serde(default)]
    pub run_at: Option<DateTime<Utc>>,
    /// IANA time zone of the cron schedule.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Queue.
    #[serde(default)]
    pub queue: Option<String>,
    /// Priority (lower first).
    #[serde(default)]
    pub priority: Option<i32>,
    /// Attempts per fire.
    #[serde(default)]
    pub max_attempts: Option<i32>,
    /// fixed or exponential.
    #[serde(default)]
    pub retry_strategy: Option<String>,
    /// Base retry delay.
    #[serde(default, with = "humantime_serde")]
    pub retry_base: Option<Duration>,
    /// Longest retry delay.
    #[serde(default, with = "humantime_serde")]
    pub retry_max: Option<Duration>,
    /// Time limit per attempt.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// allow or skip.
    #[serde(default)]
    pub overlap: Option<String>,
    /// fire_once, skip or catch_up.
    #[serde(default)]
    pub misfire: Option<String>,
    /// Labels.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Concurrency key of every execution (see `pgtide.set_key_limit`).
    #[serde(default)]
    pub concurrency_key: Option<String>,
}

/// A job to enqueue: the parameters of `pgtide.enqueue`, with `in` as a `run_at` relative to the
/// database's clock. Every field but `handler` takes the function's default when `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Handler name.
    pub handler: String,
    /// Payload.
    #[serde(default)]
    pub payload: Option<Value>,
    /// Queue.
    #[serde(default)]
    pub queue: Option<String>,
    /// Run no earlier than this.
    #[serde(default)]
    pub run_at: Option<DateTime<Utc>>,
    /// Run after this delay (exclusive with `run_at`).
    #[serde(default, rename = "in", with = "humantime_serde")]
    pub delay: Option<Duration>,
    /// Idempotency key.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Priority (lower first).
    #[serde(default)]
    pub priority: Option<i16>,
    /// Attempts, the first included.
    #[serde(default)]
    pub max_attempts: Option<i32>,
    /// fixed or exponential.
    #[serde(default)]
    pub retry_strategy: Option<String>,
    /// Base retry delay.
    #[serde(default, with = "humantime_serde")]
    pub retry_base: Option<Duration>,
    /// Longest retry delay.
    #[serde(default, with = "humantime_serde")]
    pub retry_max: Option<Duration>,
    /// Time limit per attempt.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// The tenant (or any group) the job counts against under its queue's key limits.
    #[serde(default)]
    pub concurrency_key: Option<String>,
}

/// Which executions to list; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFilter {
    /// Only this status.
    pub status: Option<ExecutionStatus>,
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this handler.
    pub handler: Option<String>,
    /// Only executions of this task (by name).
    pub task: Option<String>,
    /// At most this many (default 50, at most 10,000).
    pub limit: Option<i64>,
}

impl JobFilter {
    /// A filter from text as it arrives in a query string: an empty field means "any".
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `status` for an unknown status.
    pub fn from_text(
        status: Option<&str>,
        queue: Option<&str>,
        handler: Option<&str>,
        task: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Self> {
        let given = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(String::from);
        Ok(Self {
            status: given(status)
                .map(|s| s.parse::<ExecutionStatus>())
                .transpose()?,
            queue: given(queue),
            handler: given(handler),
            task: given(task),
            limit,
        })
    }
}

/// Most rows a listing returns.
pub const MAX_LIMIT: i64 = 10_000;

/// The admin API on one database.
#[derive(Debug, Clone)]
pub struct Admin {
    db: Database,
}

impl Admin {
    /// Admin calls on `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database this API works on.
    pub fn db(&self) -> &Database {
        &self.db
    }

    async fn rows<T: DeserializeOwned>(
        &self,
        statement: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<T>> {
        let client = self.db.client().await?;
        self.db
            .query(&client, statement, params)
            .await?
            .iter()
            .map(|row| from_row(row.get(0)))
            .collect()
    }

    async fn execute(
        &self,
        statement: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<tokio_postgres::Row> {
        let client = self.db.client().await?;
        self.db.query_one(&client, statement, params).await
    }

    /// Creates a task through `pgtide.create_task` and returns its id.
    ///
    /// # Errors
    /// The function's error for bad input (naming the field); nothing is written.
    pub async fn create_task(&self, spec: &TaskSpec) -> Result<i64> {
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        let row = self
            .execute(
                sql::ADMIN_CREATE_TASK,
                &[
                    &spec.name,
                    &spec.handler,
                    &spec.payload,
                    &spec.cron,
                    &secs(spec.every),
                    &spec.run_at,
                    &spec.timezone,
                    &spec.queue,
                    &spec.priority,
                    &spec.max_attempts,
                    &spec.retry_strategy,
                    &secs(spec.retry_base),
                    &secs(spec.retry_max),
                    &secs(spec.timeout),
                    &spec.overlap,
                    &spec.misfire,
                    &spec.tags,
                    &spec.concurrency_key,
                ],
            )
            .await?;
        Ok(row.get("id"))
    }

    /// Every task, by name.
    ///
    /// # Errors
    /// The database's error.
    pub async fn tasks(&self) -> Result<Vec<Task>> {
        self.rows(sql::ADMIN_TASKS, &[]).await
    }

    /// One task by name.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such task.
    pub async fn task(&self, name: &str) -> Result<Task> {
        self.rows(sql::ADMIN_TASK, &[&name])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("name", name, "the name of an existing task"))
    }

    /// The name of the task with `id`.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such task.
    pub async fn task_name(&self, id: i64) -> Result<String> {
        let client = self.db.client().await?;
        match self
            .db
            .query_opt(&client, sql::ADMIN_TASK_NAME, &[&id])
            .await?
        {
            Some(row) => Ok(row.get("name")),
            None => Err(Error::not_found("id", id, "the id of an existing task")),
        }
    }

    /// `pgtide.pause_task`.
    ///
    /// # Errors
    /// The function's error (an unknown task, a finished one).
    pub async fn pause_task(&self, name: &str) -> Result<()> {
        self.execute(sql::ADMIN_PAUSE_TASK, &[&name]).await?;
        Ok(())
    }

    /// `pgtide.resume_task`.
    ///
    /// # Errors
    /// The function's error.
    pub async fn resume_task(&self, name: &str) -> Result<()> {
        self.execute(sql::ADMIN_RESUME_TASK, &[&name]).await?;
        Ok(())
    }

    /// `pgtide.trigger_task`; returns the execution id.
    ///
    /// # Errors
    /// The function's error.
    pub async fn trigger_task(&self, name: &str, key: Option<&str>) -> Result<i64> {
        Ok(self
            .execute(sql::ADMIN_TRIGGER_TASK, &[&name, &key])
            .await?
            .get("id"))
    }

    /// `pgtide.delete_task`.
    ///
    /// # Errors
    /// The function's error.
    pub async fn delete_task(&self, name: &str) -> Result<()> {
        self.execute(sql::ADMIN_DELETE_TASK, &[&name]).await?;
        Ok(())
    }

    /// Enqueues a job through `pgtide.enqueue` and returns its id (the existing row's for a known
    /// key).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field for bad input (`run_at` together with `in`, an unknown
    /// retry strategy, ...); nothing is written.
    pub async fn enqueue(&self, spec: &JobSpec) -> Result<i64> {
        if spec.run_at.is_some() && spec.delay.is_some() {
            return Err(Error::invalid(
                "in",
                format!("{:?}", spec.delay.unwrap_or_default()),
                "either run_at or in, not both",
            ));
        }
        let mut job = NewJob::new(spec.handler.clone());
        if let Some(payload) = &spec.payload {
            job = job.payload(payload.clone());
        }
        if let Some(queue) = &spec.queue {
            job = job.queue(queue.clone());
        }
        if let Some(at) = spec.run_at {
            job = job.run_at(at);
        }
        if let Some(delay) = spec.delay {
            let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
            job = job.run_at(self.now().await? + delay);
        }
        if let Some(key) = &spec.idempotency_key {
            job = job.idempotency_key(key.clone());
        }
        if let Some(priority) = spec.priority {
            job = job.priority(priority);
        }
        if let Some(max_attempts) = spec.max_attempts {
            job = job.max_attempts(max_attempts);
        }
        let strategy = match spec.retry_strategy.as_deref() {
            None => job.retry_strategy,
            Some(s) => s.parse::<RetryStrategy>()?,
        };
        let (base, max) = (
            spec.retry_base.unwrap_or(job.retry_base),
            spec.retry_max.unwrap_or(job.retry_max),
        );
        job = job.retry(strategy, base, max);
        if let Some(timeout) = spec.timeout {
            job = job.timeout(timeout);
        }
        if let Some(key) = &spec.concurrency_key {
            job = job.concurrency_key(key.clone());
        }
        crate::enqueue(&self.db, &job).await
    }

    /// Executions matching `filter`, newest first.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a limit outside 1..=10,000; the database's error.
    pub async fn jobs(&self, filter: &JobFilter) -> Result<Vec<Execution>> {
        let limit = check_limit(filter.limit)?;
        let status = filter.status.map(|s| s.as_str());
        self.rows(
            sql::ADMIN_JOBS,
            &[
                &status,
                &filter.queue,
                &filter.handler,
                &filter.task,
                &limit,
            ],
        )
        .await
    }

    /// One execution with its whole retry chain.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such execution.
    pub async fn job(&self, id: i64) -> Result<JobDetail> {
        let execution = self
            .rows(sql::ADMIN_JOB, &[&id])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("id", id, "the id of an existing execution"))?;
        let chain = self.rows(sql::ADMIN_JOB_CHAIN, &[&id]).await?;
        Ok(JobDetail { execution, chain })
    }

    /// The dead-letter queue, oldest first.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad limit; the database's error.
    pub async fn dead_letters(
        &self,
        handler: Option<&str>,
        queue: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<Execution>> {
        let limit = check_limit(limit)?;
        self.rows(sql::ADMIN_DEAD_LETTERS, &[&handler, &queue, &limit])
            .await
    }

    /// `pgtide.retry_dead`; returns the fresh attempt's id.
    ///
    /// # Errors
    /// The function's error (no such row, not dead).
    pub async fn retry_dead(&self, id: i64) -> Result<i64> {
        Ok(self.execute(sql::ADMIN_RETRY_DEAD, &[&id]).await?.get("id"))
    }

    /// Requeues every dead letter (of `handler`, when given) in one statement.
    ///
    /// # Errors
    /// The database's error; nothing is requeued then.
    pub async fn retry_dead_all(&self, handler: Option<&str>) -> Result<Vec<Requeued>> {
        let client = self.db.client().await?;
        Ok(self
            .db
            .query(&client, sql::ADMIN_RETRY_DEAD_ALL, &[&handler])
            .await?
            .iter()
            .map(|row| Requeued {
                dead_id: row.get("dead_id"),
                id: row.get("id"),
            })
            .collect())
    }

    /// `pgtide.cancel`; returns the status the execution had.
    ///
    /// # Errors
    /// The function's error (no such row, already finished).
    pub async fn cancel(&self, id: i64) -> Result<ExecutionStatus> {
        let previous: String = self
            .execute(sql::ADMIN_CANCEL, &[&id])
            .await?
            .get("previous");
        previous.parse()
    }

    /// Every queue with jobs or settings.
    ///
    /// # Errors
    /// The database's error.
    pub async fn queues(&self) -> Result<Vec<Queue>> {
        self.rows(sql::ADMIN_QUEUES, &[]).await
    }

    /// `pgtide.pause_queue`.
    ///
    /// # Errors
    /// The function's error (a bad queue name).
    pub async fn pause_queue(&self, queue: &str) -> Result<()> {
        self.execute(sql::ADMIN_PAUSE_QUEUE, &[&queue]).await?;
        Ok(())
    }

    /// `pgtide.resume_queue`.
    ///
    /// # Errors
    /// The function's error.
    pub async fn resume_queue(&self, queue: &str) -> Result<()> {
        self.execute(sql::ADMIN_RESUME_QUEUE, &[&queue]).await?;
        Ok(())
    }

    /// `pgtide.set_queue_limit`; `None` removes the limit.
    ///
    /// # Errors
    /// The function's error (a limit below 1).
    pub async fn set_queue_limit(&self, queue: &str, limit: Option<i32>) -> Result<()> {
        self.execute(sql::ADMIN_SET_QUEUE_LIMIT, &[&queue, &limit])
            .await?;
        Ok(())
    }

    /// `pgtide.set_key_limit`: without `key`, the cap of every key of `queue`; with one, that key's
    /// own cap. `None` removes it.
    ///
    /// # Errors
    /// The function's error (a limit below 1, a key over 200 characters, a bad queue name).
    pub async fn set_key_limit(
        &self,
        queue: &str,
        limit: Option<i32>,
        key: Option<&str>,
    ) -> Result<()> {
        self.execute(sql::ADMIN_SET_KEY_LIMIT, &[&queue, &limit, &key])
            .await?;
        Ok(())
    }

    /// `pgtide.set_rate_limit`: at most `max_starts` starts per `per`, in the queue or per key.
    /// `None` removes the limit (and `per` is then ignored).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a limit without a window; the function's error (a limit below 1, a
    /// window of 0).
    pub async fn set_rate_limit(
        &self,
        queue: &str,
        max_starts: Option<i32>,
        per: Option<Duration>,
        per_key: bool,
    ) -> Result<()> {
        if max_starts.is_some() && per.is_none() {
            return Err(Error::invalid(
                "per",
                "None",
                "a window > 0 with max_starts",
            ));
        }
        let per = per.map(|d| d.as_secs_f64());
        self.execute(
            sql::ADMIN_SET_RATE_LIMIT,
            &[&queue, &max_starts, &per, &per_key],
        )
        .await?;
        Ok(())
    }

    /// The keys of `queue` (every queue's when `None`) with due or running rows, the most waiting
    /// first, at most `limit` of them (`pgtide.key_stats`).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a limit outside 1..=10,000; the database's error.
    pub async fn key_stats(&self, queue: Option<&str>, limit: i64) -> Result<Vec<KeyStat>> {
        if !(1..=10_000).contains(&limit) {
            return Err(Error::invalid("limit", limit, "an integer from 1 to 10000"));
        }
        self.rows(sql::ADMIN_KEY_STATS, &[&queue, &limit]).await
    }

    /// The database's clock.
    ///
    /// # Errors
    /// The database's error.
    pub async fn now(&self) -> Result<DateTime<Utc>> {
        Ok(self.execute(sql::ADMIN_NOW, &[]).await?.get("now"))
    }

    /// Whether the database answers.
    ///
    /// # Errors
    /// The connection's error.
    pub async fn ping(&self) -> Result<()> {
        self.execute(sql::ADMIN_PING, &[]).await?;
        Ok(())
    }
}

fn check_limit(limit: Option<i64>) -> Result<i64> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(Error::invalid("limit", n, "an integer from 1 to 10000")),
    }
}

fn from_row<T: DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::Decode(e.to_string()))
}

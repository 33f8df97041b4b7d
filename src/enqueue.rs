//! Enqueueing jobs from Rust: one at a time, in bulk, or inside the caller's own transaction.
//!
//! A single enqueue calls `pgtide.enqueue`, the same function psql users call, so both apply one set of
//! rules. A bulk enqueue is one `INSERT ... SELECT FROM unnest(...)` statement for the whole batch;
//! it validates each job in Rust first with the same rules, and the table's CHECK constraints stand
//! behind both.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::{
    types::{ToSql, Type},
    GenericClient,
};

use crate::{model::RetryStrategy, sql, Database, Error, Result};

/// Largest accepted payload, as JSON text (the same limit `pgtide.enqueue` enforces).
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// One job to enqueue. Build it with [`NewJob::new`] and the builder methods; every field not set
/// takes the same default as `pgtide.enqueue`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Handler name that workers look up.
    pub handler: String,
    /// JSON handed to the handler.
    pub payload: Value,
    /// Queue; workers subscribe to queues.
    pub queue: String,
    /// Run no earlier than this; `None` or a past time means now.
    pub run_at: Option<DateTime<Utc>>,
    /// Deduplication key; `None` generates a UUID.
    pub idempotency_key: Option<String>,
    /// Lower runs first.
    pub priority: i16,
    /// Attempts in total, the first included.
    pub max_attempts: i32,
    /// How the delay between attempts grows.
    pub retry_strategy: RetryStrategy,
    /// Delay after the first failure.
    pub retry_base: Duration,
    /// Upper bound of the exponential delay.
    pub retry_max: Duration,
    /// How long one attempt may run.
    pub timeout: Duration,
    /// The tenant (or any group) the job counts against under its queue's key limits; `None` for
    /// none. See `pgtide.set_key_limit`.
    pub concurrency_key: Option<String>,
}

impl NewJob {
    /// A job for `handler` with an empty object payload and default policy.
    pub fn new(handler: impl Into<String>) -> Self {
        Self {
            handler: handler.into(),
            payload: Value::Object(Default::default()),
            queue: "default".into(),
            run_at: None,
            idempotency_key: None,
            priority: 0,
            max_attempts: 5,
            retry_strategy: RetryStrategy::Exponential,
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(3600),
            timeout: Duration::from_secs(300),
            concurrency_key: None,
        }
    }

    /// Sets the payload.
    pub fn payload(mut self, payload: Value) -> Self {
        self.payload = payload;
        self
    }

    /// Sets the queue.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    /// Delays the job until `at`.
    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    /// Sets the idempotency key: enqueuing an existing key returns the existing row.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Sets the priority (lower runs first).
    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the total number of attempts.
    pub fn max_attempts(mut self, max_attempts: i32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, strategy: RetryStrategy, base: Duration, max: Duration) -> Self {
        self.retry_strategy = strategy;
        self.retry_base = base;
        self.retry_max = max;
        self
    }

    /// Sets how long one attempt may run.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the concurrency key: the job counts against its queue's limit for that key, and a queue
    /// with a key limit takes its jobs round-robin across keys.
    pub fn concurrency_key(mut self, key: impl Into<String>) -> Self {
        self.concurrency_key = Some(key.into());
        self
    }

    /// Checks the job with the rules of `pgtide.enqueue`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field, the value and what was expected.
    pub fn validate(&self) -> Result<()> {
        if self.handler.trim().is_empty() {
            return Err(Error::invalid(
                "handler",
                &self.handler,
                "a non-empty handler name",
            ));
        }
        if self.queue.trim().is_empty() {
            return Err(Error::invalid(
                "queue",
                &self.queue,
                "a non-empty queue name",
            ));
        }
        if self.max_attempts < 1 {
            return Err(Error::invalid(
                "max_attempts",
                self.max_attempts,
                "an integer >= 1",
            ));
        }
        if self.timeout.is_zero() {
            return Err(Error::invalid("timeout", "0s", "a duration > 0"));
        }
        if self.idempotency_key.as_deref() == Some("") {
            return Err(Error::invalid(
                "idempotency_key",
                "",
                "None (a generated key) or a non-empty key",
            ));
        }
        if let Some(key) = &self.concurrency_key {
            check_concurrency_key(key)?;
        }
        let size = self.payload.to_string().len();
        if size > MAX_PAYLOAD_BYTES {
            return Err(Error::invalid(
                "payload",
                format!("of {size} bytes"),
                "at most 1048576 bytes (1 MiB)",
            ));
        }
        Ok(())
    }
}

/// Checks a concurrency key with the rules of `pgtide.check_concurrency_key`: 1 to 200 characters.
///
/// # Errors
/// [`Error::Invalid`] naming the field, the value and what was expected.
pub fn check_concurrency_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid(
            "concurrency_key",
            "",
            "None (no key) or a non-empty key",
        ));
    }
    if key.chars().count() > 200 {
        let head: String = key.chars().take(40).collect();
        return Err(Error::invalid(
            "concurrency_key",
            format!("{head}..."),
            "at most 200 characters",
        ));
    }
    Ok(())
}

/// Enqueues one job and returns its execution id (the existing row's id for a known key).
///
/// # Errors
/// [`Error::Invalid`] for bad input, or the database's error; nothing is inserted in either case.
pub async fn enqueue(db: &Database, job: &NewJob) -> Result<i64> {
    let client = db.client().await?;
    enqueue_with(&**client, job).await
}

/// Enqueues one job through the caller's client or transaction, so the job commits (or rolls back)
/// together with the caller's own writes: the transactional outbox pattern.
///
/// # Errors
/// As [`enqueue`].
///
/// # Transactions and locks
/// Runs one statement on `client`; the row and its NOTIFY take effect when the caller commits.
pub async fn enqueue_with<C: GenericClient>(client: &C, job: &NewJob) -> Result<i64> {
    job.validate()?;
    // Unnamed and typed: one round trip, and safe behind a transaction pooler.
    let row = client
        .query_typed_one(
            sql::ENQUEUE,
            &[
                (&job.handler, Type::TEXT),
                (&job.payload, Type::JSONB),
                (&job.queue, Type::TEXT),
                (&job.run_at, Type::TIMESTAMPTZ),
                (&job.idempotency_key, Type::TEXT),
                (&i32::from(job.priority), Type::INT4),
                (&job.max_attempts, Type::INT4),
                (&job.retry_strategy.as_str(), Type::TEXT),
                (&job.retry_base.as_secs_f64(), Type::FLOAT8),
                (&job.retry_max.as_secs_f64(), Type::FLOAT8),
                (&job.timeout.as_secs_f64(), Type::FLOAT8),
                (&job.concurrency_key, Type::TEXT),
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// Enqueues many jobs in one statement and returns their ids in input order. Jobs whose key exists
/// already (in the table or earlier in the same batch) are not inserted; their position gets the
/// existing row's id.
///
/// # Errors
/// [`Error::Invalid`] naming the first bad job (by index); nothing is inserted.
pub async fn enqueue_many(db: &Database, jobs: &[NewJob]) -> Result<Vec<i64>> {
    let Some(columns) = Columns::of(jobs)? else {
        return Ok(Vec::new());
    };
    let client = db.client().await?;
    // A cached prepared statement on a direct connection (planning a 1,000-row call took about a
    // tenth of it), an unnamed one behind a pooler.
    let rows = db
        .query(&client, sql::ENQUEUE_MANY, &columns.params())
        .await?;
    ids_in_order(&**client, rows).await
}

/// [`enqueue_many`] through the caller's client or transaction.
///
/// # Errors
/// As [`enqueue_many`].
///
/// # Transactions and locks
/// One statement (two in the rare race where a concurrent transaction inserts one of the keys first).
pub async fn enqueue_many_with<C: GenericClient>(client: &C, jobs: &[NewJob]) -> Result<Vec<i64>> {
    let Some(columns) = Columns::of(jobs)? else {
        return Ok(Vec::new());
    };
    let rows = client
        .query_typed(sql::ENQUEUE_MANY, &columns.typed())
        .await?;
    ids_in_order(client, rows).await
}

/// The jobs of a bulk enqueue as the statement's twelve array parameters.
struct Columns<'a> {
    handlers: Vec<&'a str>,
    payloads: Vec<&'a Value>,
    queues: Vec<&'a str>,
    run_ats: Vec<Option<DateTime<Utc>>>,
    keys: Vec<String>,
    priorities: Vec<i32>,
    max_attempts: Vec<i32>,
    strategies: Vec<&'a str>,
    bases: Vec<f64>,
    maxes: Vec<f64>,
    timeouts: Vec<f64>,
    concurrency_keys: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    /// Validates every job (an error names the first bad one by index), and gives each job without
    /// a key a time-ordered one (UUID version 7, as `pgtide.uuid_v7` makes). `None` for no jobs.
    fn of(jobs: &'a [NewJob]) -> Result<Option<Self>> {
        if jobs.is_empty() {
            return Ok(None);
        }
        for (index, job) in jobs.iter().enumerate() {
            job.validate().map_err(|e| match e {
                Error::Invalid {
                    field,
                    value,
                    expected,
                } => Error::Invalid {
                    field,
                    value: format!("{value} (job {index})"),
                    expected,
                },
                other => other,
            })?;
        }
        Ok(Some(Columns {
            handlers: jobs.iter().map(|j| j.handler.as_str()).collect(),
            payloads: jobs.iter().map(|j| &j.payload).collect(),
            queues: jobs.iter().map(|j| j.queue.as_str()).collect(),
            run_ats: jobs.iter().map(|j| j.run_at).collect(),
            keys: jobs
                .iter()
                .map(|j| match &j.idempotency_key {
                    Some(key) => key.clone(),
                    None => uuid::Uuid::now_v7().hyphenated().to_string(),
                })
                .collect(),
            priorities: jobs.iter().map(|j| i32::from(j.priority)).collect(),
            max_attempts: jobs.iter().map(|j| j.max_attempts).collect(),
            strategies: jobs.iter().map(|j| j.retry_strategy.as_str()).collect(),
            bases: jobs.iter().map(|j| j.retry_base.as_secs_f64()).collect(),
            maxes: jobs.iter().map(|j| j.retry_max.as_secs_f64()).collect(),
            timeouts: jobs.iter().map(|j| j.timeout.as_secs_f64()).collect(),
            concurrency_keys: jobs.iter().map(|j| j.concurrency_key.as_deref()).collect(),
        }))
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 12] {
        self.typed().map(|(param, _)| param)
    }

    fn typed(&self) -> [(&(dyn ToSql + Sync), Type); 12] {
        [
            (&self.handlers, Type::TEXT_ARRAY),
            (&self.payloads, Type::JSONB_ARRAY),
            (&self.queues, Type::TEXT_ARRAY),
            (&self.run_ats, Type::TIMESTAMPTZ_ARRAY),
            (&self.keys, Type::TEXT_ARRAY),
            (&self.priorities, Type::INT4_ARRAY),
            (&self.max_attempts, Type::INT4_ARRAY),
            (&self.strategies, Type::TEXT_ARRAY),
            (&self.bases, Type::FLOAT8_ARRAY),
            (&self.maxes, Type::FLOAT8_ARRAY),
            (&self.timeouts, Type::FLOAT8_ARRAY),
            (&self.concurrency_keys, Type::TEXT_ARRAY),
        ]
    }
}

/// The ids of a bulk enqueue's rows, in input order.
async fn ids_in_order<C: GenericClient>(
    client: &C,
    rows: Vec<tokio_postgres::Row>,
) -> Result<Vec<i64>> {
    let mut ids: Vec<Option<i64>> = rows.iter().map(|r| r.get("id")).collect();
    if ids.iter().any(Option::is_none) {
        // A concurrent transaction committed one of our keys after this statement's snapshot: the
        // insert skipped it, and the snapshot could not see it. Look those up now.
        let missing: Vec<String> = rows
            .iter()
            .filter(|r| r.get::<_, Option<i64>>("id").is_none())
            .map(|r| r.get("idempotency_key"))
            .collect();
        let found = client
            .query_typed(sql::IDS_BY_KEY, &[(&missing, Type::TEXT_ARRAY)])
            .await?;
        for (slot, row) in ids.iter_mut().zip(&rows) {
            if slot.is_none() {
                let key: String = row.get("idempotency_key");
                *slot = found
                    .iter()
                    .find(|f| f.get::<_, String>("idempotency_key") == key)
                    .map(|f| f.get("id"));
            }
        }
    }
    ids.into_iter()
        .map(|id| id.ok_or_else(|| Error::invalid("idempotency_key", "?", "a visible row")))
        .collect()
}

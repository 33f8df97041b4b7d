//! Records outcomes in batches.
//!
//! The completer gathers outcomes for up to `completion_tick` after the first one arrives (or until
//! `completion_batch` of them are there) and writes them with one statement, `pgtide.complete`:
//! successes through a fenced `UPDATE ... FROM unnest(...)`, failures through
//! `pgtide.fail_attempts` (which inserts the retries and dead transitions), all in one transaction
//! that commits synchronously. While one flush is in flight the next batch builds up, so batches grow
//! with load.
//!
//! The window: an outcome takes a permit of the `completion_window` semaphore before it is handed
//! over and gives it back only once its flush has committed. So at most `completion_window`
//! finished jobs are unrecorded at any time; a crash loses at most those acknowledgements (their rows
//! stay `running`, are rescued after the lease, and run again), never a job.
//!
//! Every completion is fenced on (id, attempt, status = running, worker): an outcome for a row that
//! was rescued or cancelled meanwhile is refused, counted, and logged, never applied.

use std::{collections::HashMap, sync::atomic::Ordering, sync::Arc, time::Duration};

use serde_json::Value;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use super::Inner;
use crate::{
    backoff::{Backoff, RECONNECT_MAX},
    sql, Result,
};

/// What became of one attempt.
#[derive(Debug)]
pub(super) enum Outcome {
    /// The handler succeeded with this result.
    Succeeded(Option<Value>),
    /// The handler failed, panicked, timed out, or is unknown here.
    Failed { error: String, permanent: bool },
    /// Already recorded in the handler's own transaction (sql handlers).
    Recorded,
    /// Already refused by fencing in the handler's own transaction (sql handlers).
    Fenced,
}

/// One attempt's outcome, addressed by (id, attempt) for fencing.
#[derive(Debug)]
pub(super) struct Completion {
    pub(super) id: i64,
    pub(super) attempt: i32,
    pub(super) outcome: Outcome,
    /// Metric labels of the finished execution.
    pub(super) queue: String,
    pub(super) handler: String,
    /// Its place in the completion window, given back once the outcome is recorded.
    pub(super) _room: OwnedSemaphorePermit,
}

/// Runs until every sender is gone and the last batch is recorded.
pub(super) async fn run(inner: Arc<Inner>, mut outcomes: mpsc::Receiver<Completion>) {
    let max = inner.config.completion_batch;
    let tick = inner.config.completion_tick;
    let mut batch = Vec::with_capacity(max);
    while let Some(first) = outcomes.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + tick;
        loop {
            while batch.len() < max {
                match outcomes.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            if batch.len() >= max || tick.is_zero() {
                break;
            }
            match tokio::time::timeout_at(deadline, outcomes.recv()).await {
                Ok(Some(next)) => batch.push(next),
                Ok(None) | Err(_) => break,
            }
        }
        flush_until_recorded(&inner, &mut batch).await;
    }
}

async fn flush_until_recorded(inner: &Inner, batch: &mut Vec<Completion>) {
    // Rows are locked in id order, the one order every multi-row path of pgtide uses.
    batch.sort_unstable_by_key(|c| c.id);
    let mut backoff = Backoff::new(Duration::from_millis(50), RECONNECT_MAX);
    loop {
        match flush(inner, batch).await {
            Ok(()) => break,
            Err(e) => {
                // The handlers ran; their outcomes must not be dropped because the database blinked.
                let delay = backoff.next_delay();
                tracing::warn!(worker = %inner.id, error = %e, pending = batch.len(), retry_in = ?delay,
                    "recording completions failed; retrying");
                // Any connection that succeeds again means the database is back: retry at once.
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = inner.db.reconnected() => {}
                }
            }
        }
    }
    let mut in_flight = inner.in_flight.lock().expect("in_flight lock");
    for completion in batch.drain(..) {
        in_flight.remove(&completion.id);
    }
}

async fn flush(inner: &Inner, batch: &[Completion]) -> Result<()> {
    let mut ok_ids = Vec::new();
    let mut ok_attempts = Vec::new();
    let mut ok_results = Vec::new();
    let mut fail_ids = Vec::new();
    let mut fail_attempts = Vec::new();
    let mut fail_errors = Vec::new();
    let mut fail_permanent = Vec::new();
    for c in batch {
        match &c.outcome {
            Outcome::Succeeded(result) => {
                ok_ids.push(c.id);
                ok_attempts.push(c.attempt);
                ok_results.push(result.clone());
            }
            Outcome::Failed { error, permanent } => {
                fail_ids.push(c.id);
                fail_attempts.push(c.attempt);
                fail_errors.push(error.as_str());
                fail_permanent.push(*permanent);
            }
            Outcome::Recorded => {
                inner.stats.succeeded.fetch_add(1, Ordering::Relaxed);
                finished(c, "succeeded");
            }
            Outcome::Fenced => refused(inner, c),
        }
    }
    if ok_ids.is_empty() && fail_ids.is_empty() {
        return Ok(());
    }
    let db = &inner.db;
    let client = db.client().await?;
    let worker: &str = &inner.id;
    // One statement, one round trip, one commit for both kinds of outcome.
    let rows = db
        .query(
            &client,
            sql::COMPLETE,
            &[
                &worker,
                &ok_ids,
                &ok_attempts,
                &ok_results,
                &fail_ids,
                &fail_attempts,
                &fail_errors,
                &fail_permanent,
            ],
        )
        .await?;
    let mut recorded: HashMap<i64, &'static str> = HashMap::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = row.get("id");
        let status: &str = row.get("status");
        let outcome = match status {
            "succeeded" => {
                inner.stats.succeeded.fetch_add(1, Ordering::Relaxed);
                "succeeded"
            }
            other => {
                inner.stats.failed.fetch_add(1, Ordering::Relaxed);
                let retry_id: Option<i64> = row.get("retry_id");
                tracing::debug!(execution = id, status = other, ?retry_id, "attempt failed");
                if other == "dead" {
                    "dead"
                } else {
                    "failed"
                }
            }
        };
        recorded.insert(id, outcome);
    }
    for c in batch {
        if matches!(c.outcome, Outcome::Succeeded(_) | Outcome::Failed { .. }) {
            match recorded.get(&c.id) {
                Some(outcome) => finished(c, outcome),
                None => refused(inner, c),
            }
        }
    }
    Ok(())
}

fn finished(c: &Completion, outcome: &'static str) {
    metrics::counter!(crate::metrics::EXECUTIONS_FINISHED,
        "queue" => c.queue.clone(), "handler" => c.handler.clone(), "outcome" => outcome)
    .increment(1);
}

fn refused(inner: &Inner, c: &Completion) {
    inner.stats.fenced.fetch_add(1, Ordering::Relaxed);
    finished(c, "fenced");
    tracing::warn!(worker = %inner.id, execution = c.id, attempt = c.attempt,
        "completion refused: the row is no longer running this attempt on this worker (lease lost or cancelled); result dropped");
}

//! Records outcomes in batches.
//!
//! The completer takes whatever outcomes have accumulated (up to `completion_batch`) and writes them
//! with one statement per kind: successes through a fenced `UPDATE ... FROM unnest(...)`, failures
//! through `pgtide.fail_attempts` (which inserts the retries in the same statement). While one flush is
//! in flight the next batch builds up, so batches grow with load and an idle worker flushes at once.
//!
//! Every completion is fenced on (id, attempt, status = running, worker): an outcome for a row that
//! was rescued or cancelled meanwhile is refused, counted, and logged, never applied.

use std::{collections::HashMap, sync::atomic::Ordering, sync::Arc, time::Duration};

use serde_json::Value;
use tokio::sync::mpsc;

use super::Inner;
use crate::{backoff::Backoff, sql, Result};

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
}

/// Runs until every sender is gone and the last batch is recorded.
pub(super) async fn run(inner: Arc<Inner>, mut outcomes: mpsc::Receiver<Completion>) {
    let max = inner.config.completion_batch;
    let mut batch = Vec::with_capacity(max);
    while let Some(first) = outcomes.recv().await {
        batch.push(first);
        while batch.len() < max {
            match outcomes.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        flush_until_recorded(&inner, &mut batch).await;
    }
}

async fn flush_until_recorded(inner: &Inner, batch: &mut Vec<Completion>) {
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
    loop {
        match flush(inner, batch).await {
            Ok(()) => break,
            Err(e) => {
                // The handlers ran; their outcomes must not be dropped because the database blinked.
                let delay = backoff.next_delay();
                tracing::warn!(worker = %inner.id, error = %e, pending = batch.len(), retry_in = ?delay,
                    "recording completions failed; retrying");
                tokio::time::sleep(delay).await;
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
    db.prepare_ahead(&client, &[sql::COMPLETE_SUCCEEDED, sql::COMPLETE_FAILED])
        .await?;
    let worker: &str = &inner.id;
    // One transaction, one round trip: BEGIN, both statements and COMMIT go out on one connection
    // without waiting for each other (pipelined), and both kinds of outcome commit together.
    let succeeded = async {
        if ok_ids.is_empty() {
            return Ok(Vec::new());
        }
        db.query(
            &client,
            sql::COMPLETE_SUCCEEDED,
            &[&ok_ids, &ok_attempts, &ok_results, &worker],
        )
        .await
    };
    let failed = async {
        if fail_ids.is_empty() {
            return Ok(Vec::new());
        }
        db.query(
            &client,
            sql::COMPLETE_FAILED,
            &[
                &fail_ids,
                &fail_attempts,
                &fail_errors,
                &fail_permanent,
                &worker,
            ],
        )
        .await
    };
    let (begin, succeeded, failed, commit) = tokio::join!(
        client.batch_execute(sql::COMPLETE_BEGIN),
        succeeded,
        failed,
        client.batch_execute(sql::TX_COMMIT),
    );
    begin?;
    let (succeeded, failed) = (succeeded?, failed?);
    commit?;

    let mut recorded: HashMap<i64, &'static str> = succeeded
        .iter()
        .map(|row| (row.get::<_, i64>("id"), "succeeded"))
        .collect();
    inner
        .stats
        .succeeded
        .fetch_add(succeeded.len() as u64, Ordering::Relaxed);
    inner
        .stats
        .failed
        .fetch_add(failed.len() as u64, Ordering::Relaxed);
    for row in &failed {
        let id: i64 = row.get("id");
        let status: String = row.get("status");
        let retry_id: Option<i64> = row.get("retry_id");
        tracing::debug!(execution = id, %status, ?retry_id, "attempt failed");
        recorded.insert(id, if status == "dead" { "dead" } else { "failed" });
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

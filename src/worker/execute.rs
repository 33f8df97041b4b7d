//! Runs one claimed job and turns whatever happens into an outcome for the completer.
//!
//! A handler error, a panic and a timeout are all failed attempts; none of them reaches the worker.
//! SQL handlers are the exception to batching: their statement and the fenced success update commit
//! in one transaction, so the statement's effect happens exactly once.

use std::{panic::AssertUnwindSafe, sync::Arc, time::Duration};

use futures_util::FutureExt;
use serde_json::Value;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_postgres::types::Type;

use super::{
    completer::{Completion, Outcome},
    Inner,
};
use crate::{
    handlers::{Job, Registered, SqlHandler},
    sql, Error,
};

/// Runs `job` while holding `permit` (one of the worker's slots), then hands the outcome over.
pub(super) async fn run(
    inner: Arc<Inner>,
    job: Job,
    completions: mpsc::Sender<Completion>,
    permit: OwnedSemaphorePermit,
) {
    let started = std::time::Instant::now();
    let outcome = match inner.registry.get(&job.handler).cloned() {
        None => Outcome::Failed {
            error: format!("unknown handler \"{}\" on worker {}", job.handler, inner.id),
            permanent: false,
        },
        Some(registered) => {
            let timeout = registered.timeout().unwrap_or(job.timeout);
            match registered {
                Registered::Native { handler, .. } => {
                    let attempt = AssertUnwindSafe(handler.run(&job)).catch_unwind();
                    match tokio::time::timeout(timeout, attempt).await {
                        Err(_) => Outcome::Failed {
                            error: format!(
                                "timed out after {}",
                                humantime::format_duration(timeout)
                            ),
                            permanent: false,
                        },
                        Ok(Err(panic)) => Outcome::Failed {
                            error: format!("handler panicked: {}", panic_message(&*panic)),
                            permanent: false,
                        },
                        Ok(Ok(Ok(result))) => Outcome::Succeeded(result),
                        Ok(Ok(Err(e))) => Outcome::Failed {
                            error: e.message,
                            permanent: e.permanent,
                        },
                    }
                }
                Registered::Sql(handler) => run_sql(&inner, &job, &handler, timeout).await,
            }
        }
    };
    // The slot is free as soon as the handler is done and the outcome has room in the completion
    // window; recording it is the completer's job. While the window is full the slot stays taken,
    // so the worker stops claiming rather than piling up unrecorded outcomes.
    let room = inner
        .window
        .clone()
        .acquire_owned()
        .await
        .expect("the window semaphore is never closed");
    drop(permit);
    let elapsed = started.elapsed();
    inner.record_run_time(elapsed);
    metrics::histogram!(crate::metrics::RUN_DURATION,
        "queue" => job.queue.clone(), "handler" => job.handler.clone())
    .record(elapsed.as_secs_f64());
    inner.mark_completing(job.id);
    let completion = Completion {
        id: job.id,
        attempt: job.attempt,
        outcome,
        queue: job.queue.clone(),
        handler: job.handler.clone(),
        _room: room,
    };
    if completions.send(completion).await.is_err() {
        tracing::error!(
            execution = job.id,
            "completer is gone; the row stays running and will be rescued"
        );
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

/// Runs a SQL handler's statement and the fenced success update in one transaction.
async fn run_sql(inner: &Inner, job: &Job, handler: &SqlHandler, timeout: Duration) -> Outcome {
    match sql_transaction(inner, job, handler, timeout).await {
        Ok(true) => Outcome::Recorded,
        Ok(false) => Outcome::Fenced,
        Err(e) => Outcome::Failed {
            error: match e.as_db_error() {
                Some(db) => format!("sql handler failed: {}: {}", db.code().code(), db.message()),
                None => format!("sql handler failed: {e}"),
            },
            permanent: false,
        },
    }
}

/// `Ok(true)`: committed. `Ok(false)`: the row was no longer ours, rolled back.
async fn sql_transaction(
    inner: &Inner,
    job: &Job,
    handler: &SqlHandler,
    timeout: Duration,
) -> Result<bool, Error> {
    let db = &inner.db;
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let timeout_ms = format!("{}ms", timeout.as_millis().max(1));
    let idle_ms = format!("{}ms", inner.config.lease.as_millis().max(1));
    db.query(&tx, sql::SET_STATEMENT_TIMEOUT, &[&timeout_ms, &idle_ms])
        .await?;
    // $1 is always the payload as jsonb, declared up front so `$1->>'field'` needs no cast. A
    // statement that ignores it still gets it (Postgres accepts unused declared parameters).
    db.query_declared(&tx, &handler.statement, &[Type::JSONB], &[&job.payload])
        .await?;
    // The handler's work is done: from here the row leaves `running` in this transaction, and a
    // heartbeat that finds it gone must not take that for a lost lease.
    inner.mark_completing(job.id);
    let rows = db
        .query(
            &tx,
            sql::COMPLETE_SUCCEEDED,
            &[
                &vec![job.id],
                &vec![job.attempt],
                &vec![None::<Value>],
                &&*inner.id,
            ],
        )
        .await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

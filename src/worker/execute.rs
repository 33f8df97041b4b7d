//! Runs one claimed job and turns whatever happens into an outcome for the completer.
//!
//! A handler error, a panic and a timeout are all failed attempts; none of them reaches the worker.
//! SQL handlers record their own success: their statement and the fenced success update commit in
//! one transaction (see [`super::sql_batch`]), so the statement's effect happens exactly once.

use std::{panic::AssertUnwindSafe, sync::Arc};

use futures_util::FutureExt;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use super::{
    completer::{Completion, Outcome},
    Inner,
};
use crate::handlers::{Job, Registered};

/// Runs `job` while holding `permit` (one of the worker's slots), then hands the outcome over.
pub(super) async fn run(
    inner: Arc<Inner>,
    job: Job,
    completions: mpsc::Sender<Completion>,
    permit: OwnedSemaphorePermit,
) {
    let started = std::time::Instant::now();
    // A shared sql statement gives its slot back once it waits in its batch (see `sql_batch`).
    let mut slot = Some(permit);
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
                Registered::Sql(handler) => {
                    super::sql_batch::run(&inner, &job, handler, timeout, &mut slot).await
                }
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
    drop(slot);
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

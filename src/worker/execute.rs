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
use crate::{
    handlers::{Job, Registered},
    sql,
};

/// A claimed job's places in its worker. `held` counts it against `concurrency + prefetch` from its
/// claim until its outcome is handed over; `run` is one of the `concurrency` slots, taken before its
/// handler starts: at the claim, or later for a job claimed ahead of a free slot.
pub(super) struct Slot {
    pub(super) _held: OwnedSemaphorePermit,
    pub(super) run: Option<OwnedSemaphorePermit>,
}

/// Runs `job` in one of the worker's slots, then hands the outcome over. A job claimed ahead of a
/// free slot first waits for one, and goes back to the queue when none comes soon.
pub(super) async fn run(
    inner: Arc<Inner>,
    job: Job,
    completions: mpsc::Sender<Completion>,
    slot: Slot,
) {
    let Some(slot) = take_run_slot(&inner, &job, slot).await else {
        return;
    };
    let started = std::time::Instant::now();
    // A shared sql statement gives its slot back once it waits in its batch (see `sql_batch`).
    let mut slot = Some(slot);
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
                    // Boxed, like the release below: a spawned task's future is moved whole into
                    // the task, and these rarer paths would make every job's several KiB bigger.
                    Box::pin(super::sql_batch::run(
                        &inner, &job, handler, timeout, &mut slot,
                    ))
                    .await
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
    let shared_a_batch = slot.is_none();
    drop(slot);
    let elapsed = started.elapsed();
    // A statement that shared a batch (and gave its slot back) spent most of this waiting for the
    // batch's commit: its own time is what says whether the worker's jobs are short.
    let ran_for = match shared_a_batch {
        true => inner
            .sql_batches
            .statement_time(&job.handler)
            .unwrap_or(elapsed),
        false => elapsed,
    };
    inner.record_run_time(ran_for);
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

/// Gives a job claimed ahead its run slot, waiting up to `prefetch_wait`. A job still waiting then is
/// released: another worker with a free slot can take it, so a worker that claimed ahead just before
/// its jobs turned slow holds no one up. `None` when the row is no longer this worker's to run.
async fn take_run_slot(inner: &Arc<Inner>, job: &Job, mut slot: Slot) -> Option<Slot> {
    if slot.run.is_some() {
        return Some(slot);
    }
    let run_slots = inner.run_slots.clone();
    let wait = inner.config.prefetch_wait;
    if let Ok(permit) = tokio::time::timeout(wait, run_slots.clone().acquire_owned()).await {
        slot.run = Some(permit.expect("the slots semaphore is never closed"));
        return Some(slot);
    }
    // Before the release wakes the queue's workers, this one among them: it must not claim the job
    // ahead again.
    inner.note_slow_jobs();
    match Box::pin(release(inner, job)).await {
        Ok(released) => {
            inner
                .in_flight
                .lock()
                .expect("in_flight lock")
                .remove(&job.id);
            if released {
                inner
                    .stats
                    .released
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(worker = %inner.id, execution = job.id,
                    "claimed ahead but no slot came free: back in the queue");
            }
            None
        }
        Err(e) => {
            // Keeping the job is always safe: it runs when a slot comes free.
            tracing::debug!(worker = %inner.id, execution = job.id, error = %e,
                "could not give a job claimed ahead back; it waits for a slot");
            slot.run = Some(
                run_slots
                    .acquire_owned()
                    .await
                    .expect("the slots semaphore is never closed"),
            );
            Some(slot)
        }
    }
}

/// Puts `job` back in the queue (fenced on this worker and attempt); `false` when the row was no
/// longer this worker's (cancelled or rescued meanwhile).
async fn release(inner: &Inner, job: &Job) -> crate::Result<bool> {
    let client = inner.db.client().await?;
    let worker: &str = &inner.id;
    let rows = inner
        .db
        .query(
            &client,
            sql::RELEASE,
            &[&worker, &vec![job.id], &vec![job.attempt]],
        )
        .await?;
    Ok(!rows.is_empty())
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

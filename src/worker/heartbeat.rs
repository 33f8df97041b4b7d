//! Keeps the leases of held rows alive, and notices rows taken away.
//!
//! Every third of the lease the worker extends the leases of everything it holds in one statement. A
//! row missing from the answer was rescued (after this worker stalled) or cancelled: its handler is
//! aborted, so a stale worker stops spending effort on work someone else now owns. The completion
//! fence would refuse its result anyway; aborting just stops the waste (and kills a shell command's
//! process group).

use std::{collections::HashSet, sync::Arc};

use tokio_util::sync::CancellationToken;

use super::Inner;
use crate::{sql, Result};

pub(super) async fn run(inner: Arc<Inner>, stop: CancellationToken) {
    let every = inner.config.lease / 3;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = stop.cancelled() => return,
        }
        if let Err(e) = beat(&inner).await {
            tracing::warn!(worker = %inner.id, error = %e, "heartbeat failed; leases may lapse and be rescued");
        }
    }
}

async fn beat(inner: &Inner) -> Result<()> {
    let held: Vec<i64> = inner
        .in_flight
        .lock()
        .expect("in_flight lock")
        .keys()
        .copied()
        .collect();
    let db = &inner.db;
    let client = db.client().await?;
    let worker: &str = &inner.id;
    if held.is_empty() {
        db.execute(&client, sql::WORKER_SEEN, &[&worker]).await?;
        return Ok(());
    }
    let lease_secs = inner.config.lease.as_secs_f64();
    let extend_params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
        [&held, &worker, &lease_secs];
    let seen_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&worker];
    // Pipelined: both statements are on the wire before the first answer comes back.
    let (extended, _) = tokio::join!(
        db.query(&client, sql::EXTEND_LEASES, &extend_params),
        db.execute(&client, sql::WORKER_SEEN, &seen_params),
    );
    let still_ours: HashSet<i64> = extended?.iter().map(|r| r.get(0)).collect();
    let mut in_flight = inner.in_flight.lock().expect("in_flight lock");
    for id in held {
        if still_ours.contains(&id) {
            continue;
        }
        if let Some(entry) = in_flight.get(&id) {
            if !entry.completing {
                tracing::warn!(worker = %inner.id, execution = id, attempt = entry.attempt,
                    "lease lost (rescued or cancelled); stopping its handler");
                entry.abort.abort();
                in_flight.remove(&id);
            }
        }
    }
    Ok(())
}

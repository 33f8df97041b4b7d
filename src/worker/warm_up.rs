//! Warm connections for a starting worker.
//!
//! The pool opens connections lazily, and a new server connection is slow the first time it runs
//! anything: the backend loads the catalog entries of `pgtide.executions` and its indexes, compiles
//! pgtide's PL/pgSQL functions and plans their statements, and each statement is prepared on it once.
//! A starting worker needs a few connections at once (the claim loop, the completer or a sql batch,
//! the rate-limit question, maintenance beside them), so without this its first jobs each waited
//! for one of those first times: 2–6 ms each on a two-core machine, in the pickup of the first jobs
//! after a start and in the start of a drain.
//!
//! So the worker opens [`WARM_CONNECTIONS`] at start, in the background, and on each prepares the
//! statements of its hot path and runs the calls that change nothing: a claim of zero rows, the
//! rate-limit question, a completion of no jobs, and with sql handlers the lock and success update of
//! an empty batch. A sql handler's own statement is only prepared, never run. Nothing depends on
//! any of this: a failure is logged at debug level, and the work happens at first use as before.
//! Behind a transaction pooler it does nothing, since statements go out unnamed and a server
//! connection is not this worker's to warm.

use futures_util::future::join_all;
use tokio_postgres::types::{ToSql, Type};

use super::Inner;
use crate::{sql, Result};

/// Pooled connections a starting worker opens and warms: the claim loop's, the completer's or a sql
/// batch's, and one for what runs beside them (the rate-limit question, the heartbeat, maintenance).
pub(super) const WARM_CONNECTIONS: usize = 3;

/// Opens up to [`WARM_CONNECTIONS`] pooled connections (fewer when the pool is smaller) and warms
/// each; they go back to the pool ready.
pub(super) async fn run(inner: &Inner) {
    if inner.db.is_pooler() {
        return;
    }
    let count = WARM_CONNECTIONS.min(inner.db.pool().status().max_size);
    let warmed = join_all((0..count).map(|_| warm_one(inner))).await;
    for error in warmed.into_iter().filter_map(Result::err) {
        tracing::debug!(worker = %inner.id, %error, "warm-up: a connection was not warmed");
    }
}

/// Warms one pooled connection: its statements prepared in one round trip, then the calls that change
/// nothing in another.
async fn warm_one(inner: &Inner) -> Result<()> {
    let db = &inner.db;
    let client = db.client().await?;
    let sql_handlers: Vec<&str> = inner.registry.sql_statements().collect();
    let mut statements: Vec<(&str, &[Type])> = vec![
        (sql::CLAIM, &[]),
        (sql::RATE_WAIT, &[]),
        (sql::COMPLETE, &[]),
    ];
    if !sql_handlers.is_empty() {
        statements.extend([
            (sql::LOCK_RUNNING, &[][..]),
            (sql::SET_STATEMENT_TIMEOUT, &[][..]),
            (sql::COMPLETE_SUCCEEDED, &[][..]),
        ]);
    }
    let prepared = join_all(
        statements
            .iter()
            .map(|(statement, types)| db.prepare_declared(&client, statement, types))
            .chain(
                // A handler's statement that cannot be prepared yet (its table comes later) fails
                // here and again when a job runs it, where the error is recorded on the job.
                sql_handlers
                    .iter()
                    .map(|statement| db.prepare_declared(&client, statement, &[Type::JSONB])),
            ),
    )
    .await;
    let worker: &str = &inner.id;
    let queues = &inner.config.queues;
    let lease_secs = inner.config.lease.as_secs_f64();
    let (no_ids, no_attempts) = (Vec::<i64>::new(), Vec::<i32>::new());
    let no_results = Vec::<Option<serde_json::Value>>::new();
    let (no_errors, no_permanent) = (Vec::<&str>::new(), Vec::<bool>::new());
    let mut calls: Vec<(&str, Vec<&(dyn ToSql + Sync)>)> = vec![
        (sql::CLAIM, vec![queues, &0i32, &worker, &lease_secs]),
        (sql::RATE_WAIT, vec![queues]),
        (
            sql::COMPLETE,
            vec![
                &worker,
                &no_ids,
                &no_attempts,
                &no_results,
                &no_ids,
                &no_attempts,
                &no_errors,
                &no_permanent,
            ],
        ),
    ];
    if !sql_handlers.is_empty() {
        calls.push((sql::LOCK_RUNNING, vec![&no_ids, &no_attempts, &worker]));
        calls.push((
            sql::COMPLETE_SUCCEEDED,
            vec![&no_ids, &no_attempts, &worker],
        ));
    }
    let ran = join_all(
        calls
            .iter()
            .map(|(statement, params)| db.query(&client, statement, params)),
    )
    .await;
    for result in prepared {
        if let Err(error) = result {
            tracing::debug!(worker = %inner.id, %error, "warm-up: a statement was not prepared");
        }
    }
    ran.into_iter().try_for_each(|r| r.map(drop))
}

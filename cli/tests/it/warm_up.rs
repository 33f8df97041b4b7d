//! A starting worker warms its connections: it opens them before its first job and runs on them
//! only what changes nothing. A sql handler's statement is prepared there, never run, and one that
//! cannot be prepared yet keeps the worker from nothing.

use crate::common;

use std::time::Duration;

use common::{scalar, test_db, wait_until, RunningWorker};
use pgtide::{handlers::Registry, Database, NewJob, SqlHandler};
use serde_json::json;

/// Server connections of the worker's own pool (and its LISTEN connection), by application name.
async fn connections(t: &common::TestDb, application: &str) -> i64 {
    scalar(
        t,
        &format!(
            "select count(*) from pg_stat_activity \
              where datname = current_database() and application_name = '{application}'"
        ),
    )
    .await
}

#[tokio::test]
async fn a_starting_worker_opens_its_connections_before_its_first_job_and_runs_no_handler() {
    let t = test_db().await;
    t.client()
        .await
        .unwrap()
        .batch_execute("create table ledger (n int not null)")
        .await
        .unwrap();
    // A job of another queue and one not yet due: neither may change while the worker warms up.
    let other = pgtide::enqueue(&t, &NewJob::new("write").queue("other"))
        .await
        .unwrap();
    let later = pgtide::enqueue(
        &t,
        &NewJob::new("write")
            .queue("warm")
            .run_at(chrono::Utc::now() + chrono::Duration::hours(1)),
    )
    .await
    .unwrap();

    let pool = Database::connect_as(&t.url, 8, "warm-worker").unwrap();
    let mut registry = Registry::new();
    registry.insert_sql(
        "write",
        SqlHandler::new("insert into ledger (n) values (($1->>'n')::int)"),
    );
    // Its table comes later: preparing it at start fails, and must not keep the worker from working.
    registry.insert_sql(
        "later",
        SqlHandler::new("insert into later_ledger (n) values (($1->>'n')::int)"),
    );
    let worker = RunningWorker::start(
        &pool,
        registry,
        pgtide::WorkerConfig {
            queues: vec!["warm".into()],
            ..common::quick_config(4)
        },
    );
    // Three pooled connections and the LISTEN connection, with no job to run. Without the warm-up
    // the worker holds two: the one it registered on (and claims on) and the LISTEN one.
    wait_until(Duration::from_secs(10), "the warm connections", || async {
        connections(&t, "warm-worker").await >= 4
    })
    .await;
    assert_eq!(scalar(&t, "select count(*) from ledger").await, 0);
    let untouched = format!(
        "select count(*) from pgtide.executions \
          where id in ({other}, {later}) and attempt = 1 and started_at is null \
            and worker_id is null and status in ('queued', 'scheduled')"
    );
    assert_eq!(scalar(&t, &untouched).await, 2);

    // Jobs run as before, on the warm connections: one effect for the handler whose statement was
    // prepared at start, and the one whose table came later succeeds once its table exists.
    t.client()
        .await
        .unwrap()
        .batch_execute("create table later_ledger (n int not null)")
        .await
        .unwrap();
    for (handler, n) in [("write", 1), ("later", 2)] {
        pgtide::enqueue(
            &t,
            &NewJob::new(handler)
                .queue("warm")
                .payload(json!({ "n": n }))
                .max_attempts(1),
        )
        .await
        .unwrap();
    }
    wait_until(Duration::from_secs(10), "both jobs", || async {
        scalar(
            &t,
            "select count(*) from pgtide.executions where queue = 'warm' and status = 'succeeded'",
        )
        .await
            == 2
    })
    .await;
    assert_eq!(
        scalar(&t, "select count(*) from ledger where n = 1").await,
        1
    );
    assert_eq!(
        scalar(&t, "select count(*) from later_ledger where n = 2").await,
        1
    );
    worker.stop().await;
}

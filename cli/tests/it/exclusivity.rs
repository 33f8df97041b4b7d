//! Four workers, 2,000 jobs: each job executes exactly once, proven by a ledger written by a sql
//! handler in the same transaction as the completion.

use crate::common;

use std::time::Duration;

use common::{quick_config, scalar, test_db, wait_until, RunningWorker};
use pgtide::{handlers::Registry, Database, NewJob, SqlHandler};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_execute_each_of_2000_jobs_exactly_once() {
    let t = test_db().await;
    t.client()
        .await
        .unwrap()
        .batch_execute("create table ledger (n int not null, at timestamptz not null default clock_timestamp())")
        .await
        .unwrap();
    let jobs: Vec<NewJob> = (0..2000)
        .map(|n| NewJob::new("ledger").payload(json!({ "n": n })))
        .collect();
    pgtide::enqueue_many(&t, &jobs).await.unwrap();

    let mut workers = Vec::new();
    for _ in 0..4 {
        let db = Database::connect(&t.url, 12).unwrap();
        let mut registry = Registry::new();
        registry.insert_sql(
            "ledger",
            SqlHandler::new("insert into ledger (n) values (($1::jsonb ->> 'n')::int)"),
        );
        workers.push(RunningWorker::start(&db, registry, quick_config(8)));
    }
    wait_until(
        Duration::from_secs(120),
        "all 2,000 jobs to succeed",
        || async {
            scalar(
                &t,
                "select count(*) from pgtide.executions where status = 'succeeded'",
            )
            .await
                == 2000
        },
    )
    .await;
    // A job claimed ahead that waited too long for a slot was given back and claimed again: that
    // claim did not count.
    let kept: u64 = workers
        .iter()
        .map(|w| {
            let stats = w.worker.stats();
            stats.claimed.load(std::sync::atomic::Ordering::Relaxed)
                - stats.released.load(std::sync::atomic::Ordering::Relaxed)
        })
        .sum();
    for worker in workers {
        worker.stop().await;
    }

    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        2000,
        "no retries were needed"
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where attempt <> 1"
        )
        .await,
        0
    );
    assert_eq!(scalar(&t, "select count(*) from ledger").await, 2000);
    assert_eq!(
        scalar(&t, "select count(distinct n) from ledger").await,
        2000
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from (select n from ledger group by n having count(*) > 1) d"
        )
        .await,
        0
    );
    assert_eq!(kept, 2000, "every claim kept was a distinct row");
    // The work really was shared.
    assert_eq!(
        scalar(
            &t,
            "select count(distinct worker_id) from pgtide.executions"
        )
        .await,
        4
    );
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions where finished_at is null or started_at is null or lease_until is not null").await,
        0
    );
}

//! Graceful shutdown: stop claiming, finish held jobs within the grace, and leave anything longer
//! leased for the rescuer: nothing is lost.

use crate::common;
use pgtide::maintenance::LeaderService;

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use common::{handlers::Sleeps, registry, scalar, test_db, wait_until, RunningWorker};
use pgtide::{maintenance::Rescuer, NewJob, WorkerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_jobs_finish_and_nothing_new_is_claimed() {
    let t = test_db().await;
    let jobs: Vec<NewJob> = (0..2).map(|_| NewJob::new("sleep")).collect();
    pgtide::enqueue_many(&t, &jobs).await.unwrap();
    let config = WorkerConfig {
        concurrency: 2,
        shutdown_grace: Duration::from_secs(20),
        poll_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let worker = RunningWorker::start(
        &t,
        registry(vec![(
            "sleep",
            Arc::new(Sleeps(Duration::from_millis(800))),
        )]),
        config,
    );
    wait_until(Duration::from_secs(10), "both jobs to run", || async {
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'running'",
        )
        .await
            == 2
    })
    .await;
    worker.stop.cancel();
    // Work that arrives after the signal is left for another worker.
    let late = pgtide::enqueue(&t, &NewJob::new("sleep")).await.unwrap();
    let stats_claimed = {
        let w = worker.worker.clone();
        worker.task.await.unwrap().unwrap();
        w.stats().claimed.load(Ordering::Relaxed)
    };
    assert_eq!(stats_claimed, 2);
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'succeeded'"
        )
        .await,
        2
    );
    assert_eq!(common::status_of(&t, late).await, "queued");
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.workers").await,
        0,
        "the worker deregistered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_longer_than_the_grace_keeps_its_lease_and_is_rescued() {
    let t = test_db().await;
    let id = pgtide::enqueue(&t, &NewJob::new("sleep").idempotency_key("long"))
        .await
        .unwrap();
    let config = WorkerConfig {
        concurrency: 1,
        lease: Duration::from_secs(30),
        shutdown_grace: Duration::from_millis(300),
        poll_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let worker = RunningWorker::start(
        &t,
        registry(vec![("sleep", Arc::new(Sleeps(Duration::from_secs(60))))]),
        config,
    );
    wait_until(Duration::from_secs(10), "the job to run", || async {
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'running'",
        )
        .await
            == 1
    })
    .await;
    let stopping = Instant::now();
    worker.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "the worker left after the grace"
    );
    let row = t
        .client()
        .await
        .unwrap()
        .query_one(
            "select status::text, lease_until > now() + interval '20 seconds' from pgtide.executions where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, String>(0),
        "running",
        "the row was not abandoned as failed"
    );
    assert!(row.get::<_, bool>(1), "it keeps its lease");

    // When the lease runs out, the rescuer turns it into a failed attempt plus a retry.
    t.client()
        .await
        .unwrap()
        .execute(
            "update pgtide.executions set lease_until = now() - interval '1 s' where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    Rescuer::new(t.db.clone(), 10).run_once().await.unwrap();
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions where idempotency_key = 'long#2' and status = 'scheduled'").await,
        1
    );
}

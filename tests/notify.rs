//! LISTEN/NOTIFY pickup: with polling all but switched off, a job is still picked up because the
//! notification wakes the worker; and the worker survives its LISTEN backend being killed.

mod common;

use std::time::Duration;

use common::{registry, scalar, test_db, wait_until, RunningWorker};
use pgtide::{NewJob, WorkerConfig};

fn no_polling() -> WorkerConfig {
    WorkerConfig {
        concurrency: 2,
        poll_interval: Duration::from_secs(3600),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_wakes_an_idle_worker() {
    let t = test_db().await;
    let worker = RunningWorker::start(&t, registry(vec![]), no_polling());
    wait_until(Duration::from_secs(10), "the worker to listen", || async {
        worker.worker.is_listening()
    })
    .await;
    // Let the worker go idle (its first claim found nothing and it now waits for a notification).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = pgtide::enqueue(&t, &NewJob::new("noop")).await.unwrap();
    // Polling is hourly: only the notification can get this done.
    wait_until(
        Duration::from_secs(10),
        "the notified job to succeed",
        || async { common::status_of(&t, id).await == "succeeded" },
    )
    .await;
    // A notification for a queue the worker does not serve leaves it alone.
    let other = pgtide::enqueue(&t, &NewJob::new("noop").queue("elsewhere"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(common::status_of(&t, other).await, "queued");
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_reconnects_after_its_backend_is_killed() {
    let t = test_db().await;
    let worker = RunningWorker::start(&t, registry(vec![]), no_polling());
    wait_until(Duration::from_secs(10), "the worker to listen", || async {
        worker.worker.is_listening()
    })
    .await;
    let killed = scalar(
        &t,
        "select count(pg_terminate_backend(pid)) from pg_stat_activity
          where datname = current_database() and query ilike 'listen%'",
    )
    .await;
    assert_eq!(killed, 1, "exactly one LISTEN backend per worker");
    wait_until(
        Duration::from_secs(10),
        "the listener to notice",
        || async { !worker.worker.is_listening() },
    )
    .await;
    wait_until(
        Duration::from_secs(10),
        "the listener to come back",
        || async { worker.worker.is_listening() },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = pgtide::enqueue(&t, &NewJob::new("noop")).await.unwrap();
    wait_until(
        Duration::from_secs(10),
        "a job after the reconnect to succeed",
        || async { common::status_of(&t, id).await == "succeeded" },
    )
    .await;
    worker.stop().await;
}

//! Queue pause and per-queue concurrency limits, under real workers.

use crate::common;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};

use common::{
    handlers::Sleeps, quick_config, registry, scalar, test_db, wait_until, RunningWorker,
};
use pgtide::{Database, NewJob, WorkerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_queue_gets_no_new_claims_and_its_running_jobs_finish() {
    let t = test_db().await;
    let jobs: Vec<NewJob> = (0..40)
        .map(|n| {
            NewJob::new("slow")
                .queue("q")
                .idempotency_key(format!("slow-{n}"))
        })
        .collect();
    pgtide::enqueue_many(&t, &jobs).await.unwrap();
    let worker = RunningWorker::start(
        &t,
        registry(vec![("slow", Arc::new(Sleeps(Duration::from_millis(400))))]),
        WorkerConfig {
            queues: vec!["q".into()],
            ..quick_config(4)
        },
    );
    wait_until(Duration::from_secs(10), "4 jobs running", || async {
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'running'",
        )
        .await
            == 4
    })
    .await;
    t.client()
        .await
        .unwrap()
        .batch_execute("select pgtide.pause_queue('q')")
        .await
        .unwrap();
    // The jobs held at the pause finish; nothing starts a second or more after it.
    wait_until(Duration::from_secs(5), "held jobs to finish", || async {
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'running'",
        )
        .await
            == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let late = scalar(
        &t,
        "select count(*) from pgtide.executions e, pgtide.queues q
          where q.name = 'q' and e.started_at > q.paused_at + interval '1 second'",
    )
    .await;
    assert_eq!(late, 0, "claims more than a second after the pause");
    let waiting = scalar(
        &t,
        "select count(*) from pgtide.executions where status = 'queued'",
    )
    .await;
    let done = scalar(
        &t,
        "select count(*) from pgtide.executions where status = 'succeeded'",
    )
    .await;
    assert!(
        done >= 4 && waiting > 0 && done + waiting == 40,
        "done {done}, waiting {waiting}"
    );

    // Resume wakes the idle worker at once (NOTIFY), and everything runs.
    t.client()
        .await
        .unwrap()
        .batch_execute("select pgtide.resume_queue('q')")
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(20),
        "all 40 jobs to succeed",
        || async {
            scalar(
                &t,
                "select count(*) from pgtide.executions where status = 'succeeded'",
            )
            .await
                == 40
        },
    )
    .await;
    worker.stop().await;
}

/// Samples the number of running rows per queue as fast as it can, keeping the maximum.
fn sample_running(db: Database, queue: &'static str, stop: Arc<AtomicBool>) -> Arc<AtomicI64> {
    let max = Arc::new(AtomicI64::new(0));
    let seen = max.clone();
    tokio::spawn(async move {
        let client = db.client().await.unwrap();
        while !stop.load(Ordering::Relaxed) {
            let n: i64 = client
                .query_one(
                    "select count(*) from pgtide.executions where status = 'running' and queue = $1",
                    &[&queue],
                )
                .await
                .unwrap()
                .get(0);
            seen.fetch_max(n, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    max
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_limit_caps_running_jobs_across_four_workers() {
    let t = test_db().await;
    t.client()
        .await
        .unwrap()
        .batch_execute("select pgtide.set_queue_limit('limited', 3)")
        .await
        .unwrap();
    let mut jobs: Vec<NewJob> = (0..60)
        .map(|n| {
            NewJob::new("slow")
                .queue("limited")
                .idempotency_key(format!("l-{n}"))
        })
        .collect();
    jobs.extend((0..60).map(|n| {
        NewJob::new("slow")
            .queue("free")
            .idempotency_key(format!("f-{n}"))
    }));
    pgtide::enqueue_many(&t, &jobs).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let limited_max = sample_running(t.db.clone(), "limited", stop.clone());
    let free_max = sample_running(t.db.clone(), "free", stop.clone());
    let mut workers = Vec::new();
    for _ in 0..4 {
        let db = Database::connect(&t.url, 8).unwrap();
        workers.push(RunningWorker::start(
            &db,
            registry(vec![("slow", Arc::new(Sleeps(Duration::from_millis(60))))]),
            WorkerConfig {
                queues: vec!["limited".into(), "free".into()],
                poll_interval: Duration::from_millis(50),
                ..quick_config(6)
            },
        ));
    }
    wait_until(
        Duration::from_secs(60),
        "all 120 jobs to succeed",
        || async {
            scalar(
                &t,
                "select count(*) from pgtide.executions where status = 'succeeded'",
            )
            .await
                == 120
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.stop().await;
    }
    let limited_max = limited_max.load(Ordering::Relaxed);
    let free_max = free_max.load(Ordering::Relaxed);
    assert!(
        limited_max <= 3,
        "the limited queue ran {limited_max} jobs at once"
    );
    assert_eq!(limited_max, 3, "the limit is reached, not just respected");
    assert!(
        free_max > 3,
        "the free queue is not held back by its neighbour (max {free_max})"
    );
    // The cap held while several workers shared the queue (which ones is up to timing).
    assert!(
        scalar(
            &t,
            "select count(distinct worker_id) from pgtide.executions where queue = 'limited'"
        )
        .await
            >= 2
    );
}

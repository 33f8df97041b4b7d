//! Claiming ahead of free slots (`prefetch`) keeps the guarantees of claiming for free slots only: a
//! job claimed ahead is leased like a running one, so a crash loses none of them, and a job that
//! waits too long for a slot goes back to the queue, unspent, for a worker with room.

use crate::common;
use pgtide::maintenance::LeaderService;

use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use common::{test_db, wait_until, Process, RunningWorker};
use nix::{sys::signal::Signal, unistd::Pid};
use pgtide::{maintenance::Rescuer, NewJob, RetryStrategy, WorkerConfig};

/// How many rows of `handler` have `status`.
async fn count(t: &common::TestDb, handler: &str, status: &str) -> i64 {
    t.db.client()
        .await
        .unwrap()
        .query_one(
            "select count(*) from pgtide.executions where handler = $1 and status::text = $2",
            &[&handler, &status],
        )
        .await
        .unwrap()
        .get(0)
}

/// Waits until `n` rows of `handler` succeeded.
async fn wait_for_successes(t: &common::TestDb, handler: &str, n: i64) {
    wait_until(
        Duration::from_secs(20),
        &format!("{n} {handler} jobs succeeded"),
        || async { count(t, handler, "succeeded").await == n },
    )
    .await;
}

/// Enqueues `n` no-op jobs on `queue` and waits until they succeeded: a worker that ran them counts
/// its jobs as short, and claims ahead from then on.
async fn warm_up(t: &common::TestDb, queue: &str, n: usize) {
    let jobs: Vec<NewJob> = (0..n).map(|_| NewJob::new("noop").queue(queue)).collect();
    pgtide::enqueue_many(&t.db, &jobs).await.unwrap();
    wait_for_successes(t, "noop", n as i64).await;
}

/// Jobs of `handler` that retry at once, so a rescued attempt is due again without waiting.
fn quick_retry_jobs(handler: &str, queue: &str, n: usize) -> Vec<NewJob> {
    (0..n)
        .map(|_| {
            NewJob::new(handler).queue(queue).retry(
                RetryStrategy::Fixed,
                Duration::ZERO,
                Duration::ZERO,
            )
        })
        .collect()
}

#[tokio::test]
async fn a_worker_killed_with_jobs_claimed_ahead_loses_none_of_them() {
    let t = test_db().await;
    let dir = std::env::temp_dir().join(format!("pgtide-prefetch-{}", t.name));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("pgtide.toml");
    // Two slots and ten places ahead of them. A job claimed ahead waits up to 2.5 s for a slot:
    // the test kills the worker inside that time, with the buffer full.
    std::fs::write(
        &config,
        "[worker]\nqueues = [\"ahead\"]\nconcurrency = 2\nprefetch = 10\nprefetch_wait = \"2500ms\"\n\
         lease = \"3s\"\n[handlers.hold]\nkind = \"shell\"\ncommand = [\"sleep\", \"60\"]\n",
    )
    .unwrap();
    let child = Process::worker(&t.url, &config, dir.join("worker.log"));
    warm_up(&t, "ahead", 200).await;

    let ids = pgtide::enqueue_many(&t.db, &quick_retry_jobs("hold", "ahead", 12))
        .await
        .unwrap();
    // Two of them run (and sleep); the other ten wait in the worker for a slot.
    wait_until(
        Duration::from_secs(10),
        "all 12 jobs held by the worker",
        || async { count(&t, "hold", "running").await == 12 },
    )
    .await;
    nix::sys::signal::kill(Pid::from_raw(child.child.id() as i32), Signal::SIGKILL).unwrap();
    drop(child);

    let client = t.db.client().await.unwrap();
    let leased: i64 = client
        .query_one(
            "select count(*) from pgtide.executions
              where id = any($1) and status = 'running' and lease_until is not null
                and worker_id is not null",
            &[&ids],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        leased, 12,
        "every job claimed ahead is leased like a running one"
    );

    // After the lease, the rescuer takes every one of them back, and a new worker runs each once.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let rescued = Rescuer::new(t.db.clone(), 100).run_once().await.unwrap();
    assert_eq!(rescued.len(), 12);
    common::promote(&t.db).await;
    let worker = RunningWorker::start(
        &t.db,
        common::registry(vec![(
            "hold",
            Arc::new(common::handlers::Sleeps(Duration::ZERO)),
        )]),
        WorkerConfig {
            queues: vec!["ahead".into()],
            ..common::quick_config(4)
        },
    );
    wait_for_successes(&t, "hold", 12).await;
    worker.stop().await;

    let rows = client
        .query(
            "select o.status::text, o.error, count(r.id) filter (where r.status = 'succeeded'),
                    count(r.id)
               from pgtide.executions o
               left join pgtide.executions r on r.retry_of = o.id
              where o.id = any($1)
              group by o.id, o.status, o.error",
            &[&ids],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 12);
    for row in rows {
        assert_eq!(row.get::<_, String>(0), "failed");
        assert!(row
            .get::<_, Option<String>>(1)
            .unwrap()
            .starts_with("lease expired"));
        assert_eq!(row.get::<_, i64>(2), 1, "one success per job");
        assert_eq!(row.get::<_, i64>(3), 1, "one retry per job");
    }
    assert_eq!(
        common::scalar(
            &t.db,
            "select count(*) from pgtide.executions where status in ('queued', 'running', 'scheduled')",
        )
        .await,
        0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// Multi-threaded, so the sampler is not starved by the workers it watches on a shared thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_claimed_ahead_that_find_no_slot_go_back_to_the_queue_for_an_idle_worker() {
    let t = test_db().await;
    let nap = || -> Arc<dyn pgtide::Handler> {
        Arc::new(common::handlers::Sleeps(Duration::from_millis(400)))
    };
    // One slot and sixteen places ahead: once its jobs are short, this worker holds up to 17, up
    // to 8 claimed at once.
    let hoarder = RunningWorker::start(
        &t.db,
        common::registry(vec![("nap", nap())]),
        WorkerConfig {
            queues: vec!["ahead".into()],
            prefetch: 16,
            prefetch_wait: Duration::from_millis(300),
            ..common::quick_config(1)
        },
    );
    warm_up(&t, "ahead", 100).await;

    // The jobs turn slow. The hoarder claims all eight at once: one runs, seven wait for its slot.
    let ids = pgtide::enqueue_many(&t.db, &quick_retry_jobs("nap", "ahead", 8))
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(10),
        "the hoarder claimed ahead",
        || async {
            hoarder.worker.stats().released.load(Ordering::Relaxed) > 0
                || count(&t, "nap", "running").await > 1
        },
    )
    .await;
    // A second worker, with room for all of them, starts only now.
    let idle = RunningWorker::start(
        &t.db,
        common::registry(vec![("nap", nap())]),
        WorkerConfig {
            queues: vec!["ahead".into()],
            ..common::quick_config(8)
        },
    );
    wait_for_successes(&t, "nap", 8).await;
    let released = hoarder.worker.stats().released.load(Ordering::Relaxed);
    let idle_id = idle.worker.id().to_string();
    idle.stop().await;
    hoarder.stop().await;

    assert!(
        released >= 1,
        "the hoarder gave jobs it could not start back"
    );
    let client = t.db.client().await.unwrap();
    let row = client
        .query_one(
            "select count(*) filter (where worker_id = $2),
                    count(*) filter (where attempt = 1 and status = 'succeeded'),
                    (select count(*) from pgtide.executions where retry_of = any($1))
               from pgtide.executions where id = any($1)",
            &[&ids, &idle_id],
        )
        .await
        .unwrap();
    assert!(
        row.get::<_, i64>(0) >= 1,
        "the idle worker ran jobs the hoarder had claimed ahead"
    );
    assert_eq!(
        row.get::<_, i64>(1),
        8,
        "a job given back keeps its attempt: nothing ran"
    );
    assert_eq!(row.get::<_, i64>(2), 0, "no retry was needed");

    // The release is fenced: a worker gives back only what it still holds.
    let stale: Vec<i64> = common::column(
        &t.db,
        &format!(
            "select * from pgtide.release('nobody', array[{}], array[1])",
            ids[0]
        ),
    )
    .await;
    assert!(stale.is_empty());
    assert_eq!(common::status_of(&t.db, ids[0]).await, "succeeded");
}

/// While short jobs keep coming, the next claim goes out before the last one's jobs are handed to
/// their tasks. A worker stopped in the middle of that leaves every job run once or still queued:
/// none left running, none retried, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_while_claiming_ahead_leaves_every_job_done_once_or_queued() {
    let t = test_db().await;
    let worker = RunningWorker::start(
        &t.db,
        common::registry(vec![]),
        WorkerConfig {
            queues: vec!["ahead".into()],
            ..common::quick_config(16)
        },
    );
    warm_up(&t, "ahead", 200).await;
    let n = 20_000;
    let jobs: Vec<NewJob> = (0..n).map(|_| NewJob::new("noop").queue("ahead")).collect();
    let ids = pgtide::enqueue_many(&t.db, &jobs).await.unwrap();
    wait_until(
        Duration::from_secs(30),
        "a few thousand jobs succeeded",
        || async { count(&t, "noop", "succeeded").await >= 2_200 },
    )
    .await;
    let sent_ahead = worker
        .worker
        .stats()
        .claims_sent_ahead
        .load(Ordering::Relaxed);
    worker.stop().await;

    assert!(sent_ahead > 0, "the drain sent claims ahead");
    let row =
        t.db.client()
            .await
            .unwrap()
            .query_one(
                "select count(*) filter (where status = 'succeeded'),
                    count(*) filter (where status = 'queued'),
                    count(*) filter (where status not in ('succeeded', 'queued')),
                    count(*) filter (where attempt <> 1)
               from pgtide.executions where id = any($1)",
                &[&ids],
            )
            .await
            .unwrap();
    let (succeeded, queued) = (row.get::<_, i64>(0), row.get::<_, i64>(1));
    assert!(
        succeeded >= 2_000 && queued > 0,
        "stopped mid-drain: {succeeded} succeeded, {queued} queued"
    );
    assert_eq!(succeeded + queued, n as i64, "every job is done or queued");
    assert_eq!(row.get::<_, i64>(2), 0, "none left running, failed or dead");
    assert_eq!(row.get::<_, i64>(3), 0, "none ran twice");
    assert_eq!(
        common::scalar(
            &t.db,
            "select count(*) from pgtide.executions where retry_of is not null"
        )
        .await,
        0
    );
}

//! Fencing: a worker that lost its row (rescued after a stall, or cancelled) cannot record an outcome
//! for it, and a sql handler's effect from such a worker is rolled back, never committed.

use crate::common;
use pgtide::maintenance::LeaderService;

use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use common::{handlers::Gate, registry, scalar, test_db, wait_until, RunningWorker};
use pgtide::{handlers::Registry, maintenance::Rescuer, NewJob, SqlHandler, WorkerConfig};

/// A lease long enough that the heartbeat (every third of it) stays out of the way.
fn long_lease() -> WorkerConfig {
    WorkerConfig {
        concurrency: 1,
        lease: Duration::from_secs(120),
        poll_interval: Duration::from_millis(100),
        ..Default::default()
    }
}

async fn expire_lease_and_rescue(t: &common::TestDb, id: i64) {
    t.client()
        .await
        .unwrap()
        .execute(
            "update pgtide.executions set lease_until = now() - interval '1 second' where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let rescued = Rescuer::new(t.db.clone(), 100).run_once().await.unwrap();
    assert_eq!(rescued.len(), 1);
    assert_eq!(rescued[0].id, id);
    assert_eq!(rescued[0].status, pgtide::ExecutionStatus::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_workers_completion_is_refused() {
    let t = test_db().await;
    let id = pgtide::enqueue(&t, &NewJob::new("gate").idempotency_key("f"))
        .await
        .unwrap();
    let gate = Gate::new();
    let worker = RunningWorker::start(
        &t,
        registry(vec![("gate", Arc::new(gate.clone()))]),
        long_lease(),
    );
    let worker_id = worker.worker.id().to_string();
    wait_until(Duration::from_secs(10), "the handler to start", || async {
        gate.started.load(Ordering::SeqCst) == 1
    })
    .await;

    // The worker "stalled": its lease ran out and the rescuer took the row back.
    expire_lease_and_rescue(&t, id).await;
    // Now the stale handler finishes and tries to record success.
    gate.release(1);
    wait_until(
        Duration::from_secs(10),
        "the completion to be refused",
        || async { worker.worker.stats().fenced.load(Ordering::Relaxed) == 1 },
    )
    .await;
    worker.stop().await;

    let client = t.client().await.unwrap();
    let row = client
        .query_one(
            "select status::text, worker_id, result, error from pgtide.executions where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, String>(0),
        "failed",
        "the rescuer's verdict stands"
    );
    assert_eq!(row.get::<_, String>(1), worker_id);
    assert_eq!(
        row.get::<_, Option<serde_json::Value>>(2),
        None,
        "the stale result was dropped"
    );
    assert!(row.get::<_, String>(3).contains("stopped heartbeating"));
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'succeeded'"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions where idempotency_key = 'f#2' and status = 'scheduled'").await,
        1,
        "the rescue scheduled the retry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_sql_handler_rolls_its_effect_back() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    client
        .batch_execute("create table ledger (n int)")
        .await
        .unwrap();
    let id = pgtide::enqueue(&t, &NewJob::new("slow_sql").idempotency_key("s"))
        .await
        .unwrap();
    // The statement waits for an advisory lock the test holds, like a handler stuck on a slow query.
    let mut blocker = t.client().await.unwrap();
    let hold = blocker.transaction().await.unwrap();
    hold.execute("select pg_advisory_xact_lock(4711)", &[])
        .await
        .unwrap();
    let mut registry = Registry::new();
    registry.insert_sql(
        "slow_sql",
        SqlHandler::new("insert into ledger (n) select 1 from pg_advisory_xact_lock(4711)"),
    );
    let worker = RunningWorker::start(&t, registry, long_lease());
    wait_until(Duration::from_secs(10), "the row to be running", || async {
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'running'",
        )
        .await
            == 1
    })
    .await;
    expire_lease_and_rescue(&t, id).await;
    hold.rollback().await.unwrap();
    wait_until(
        Duration::from_secs(10),
        "the stale transaction to be refused",
        || async { worker.worker.stats().fenced.load(Ordering::Relaxed) == 1 },
    )
    .await;
    worker.stop().await;
    assert_eq!(
        scalar(&t, "select count(*) from ledger").await,
        0,
        "the stale effect never committed"
    );
    assert_eq!(common::status_of(&t, id).await, "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_job_stops_its_handler_at_the_next_heartbeat() {
    let t = test_db().await;
    let id = pgtide::enqueue(&t, &NewJob::new("gate")).await.unwrap();
    let gate = Gate::new();
    let config = WorkerConfig {
        concurrency: 1,
        lease: Duration::from_secs(1),
        poll_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let worker = RunningWorker::start(&t, registry(vec![("gate", Arc::new(gate.clone()))]), config);
    wait_until(Duration::from_secs(10), "the handler to start", || async {
        gate.started.load(Ordering::SeqCst) == 1
    })
    .await;
    let before: String = common::one(&t, "select pgtide.cancel($1)::text", &[&id]).await;
    assert_eq!(before, "running");
    wait_until(
        Duration::from_secs(10),
        "the heartbeat to abort the handler",
        || async { gate.aborted.load(Ordering::SeqCst) },
    )
    .await;
    worker.stop().await;
    let row = t
        .client()
        .await
        .unwrap()
        .query_one(
            "select status::text, finished_at is not null from pgtide.executions where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "cancelled");
    assert!(row.get::<_, bool>(1));
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        1,
        "no retry for a cancel"
    );
    // A finished row cannot be cancelled; the error names it.
    let err = t
        .client()
        .await
        .unwrap()
        .query_one("select pgtide.cancel($1)", &[&id])
        .await;
    assert!(err.is_ok(), "cancelling a cancelled row is a no-op");
    let done = pgtide::enqueue(&t, &NewJob::new("noop")).await.unwrap();
    t.client()
        .await
        .unwrap()
        .execute(
            "update pgtide.executions set status = 'succeeded' where id = $1",
            &[&done],
        )
        .await
        .unwrap();
    let message = common::sql_error(&t, "select pgtide.cancel($1)", &[&done]).await;
    assert!(message.contains("is succeeded"), "{message}");
}

/// A job that completed is not a lost lease. With a 1 s lease the heartbeat runs every 333 ms, and
/// with a completion window of one outcome every finished job waits its turn to be recorded: a sql
/// handler's job waits there after its own transaction committed. A heartbeat in that wait finds
/// the row no longer running; it must not call that a lost lease and abort the task (which would
/// drop the job from the worker's count).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_never_takes_a_completed_job_for_a_lost_lease() {
    let t = test_db().await;
    t.client()
        .await
        .unwrap()
        .batch_execute("create table ledger (n int not null)")
        .await
        .unwrap();
    const JOBS: i64 = 1200;
    let jobs: Vec<NewJob> = (0..JOBS)
        .map(|n| {
            if n % 2 == 0 {
                NewJob::new("noop")
            } else {
                NewJob::new("ledger").payload(serde_json::json!({ "n": n }))
            }
        })
        .collect();
    pgtide::enqueue_many(&t, &jobs).await.unwrap();
    let mut registry = Registry::new();
    registry.insert_sql(
        "ledger",
        SqlHandler::new("insert into ledger (n) values (($1->>'n')::int)"),
    );
    let worker = RunningWorker::start(
        &t,
        registry,
        WorkerConfig {
            concurrency: 16,
            lease: Duration::from_secs(1),
            completion_batch: 1,
            completion_window: 1,
            ..Default::default()
        },
    );
    wait_until(Duration::from_secs(60), "every job done", || async {
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'succeeded'",
        )
        .await
            == JOBS
    })
    .await;
    let stats = worker.worker.stats();
    wait_until(
        Duration::from_secs(5),
        "the worker counting every job",
        || async { stats.succeeded.load(Ordering::Relaxed) >= JOBS as u64 },
    )
    .await;
    assert_eq!(stats.succeeded.load(Ordering::Relaxed), JOBS as u64);
    assert_eq!(stats.fenced.load(Ordering::Relaxed), 0);
    assert_eq!(scalar(&t, "select count(*) from ledger").await, JOBS / 2);
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        JOBS,
        "an attempt was retried"
    );
    worker.stop().await;
}

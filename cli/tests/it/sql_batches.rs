//! Sql handlers sharing transactions: the batching may change how many commits a queue costs, never
//! how many effects a job has. Each test asserts on a ledger table that the handler writes:
//! - every succeeded job has exactly one effect, and a failed one none, even when its statement
//!   failed after writing and shared its transaction with others;
//! - batches of more than 64 jobs share a transaction, and after a failure no transaction puts more
//!   than 64 statements under savepoints;
//! - a job cancelled while its batch runs has no effect, and the rest of its batch commits;
//! - a worker killed in the middle of a batch commits nothing of it, and the retries commit each
//!   effect once.

use crate::common;

use std::time::Duration;

use common::{scalar, test_db, wait_until, Process, RunningWorker};
use pgtide::{handlers::Registry, maintenance::LeaderService, NewJob, SqlHandler, WorkerConfig};
use serde_json::json;

/// Writes its job's `n`, then fails when `n` is a multiple of 7: the write must roll back with it.
const WRITE_OR_FAIL: &str =
    "with ins as (insert into ledger (n) values (($1->>'n')::int) returning n) \
                             select n / (n % 7) from ins";

/// Writes its job's `n` once the gate (advisory lock 4711, which a test may hold) is open.
const GATED: &str =
    "insert into ledger (n) select ($1->>'n')::int from pg_advisory_xact_lock_shared(4711)";

async fn ledger(t: &common::TestDb) {
    t.client()
        .await
        .unwrap()
        .batch_execute("create table ledger (n int not null)")
        .await
        .unwrap();
}

/// Jobs of `handler` on `queue` with payloads `{"n": n}`, each with one attempt.
fn jobs(handler: &str, queue: &str, ns: std::ops::RangeInclusive<i32>) -> Vec<NewJob> {
    ns.map(|n| {
        NewJob::new(handler)
            .queue(queue)
            .payload(json!({ "n": n }))
            .max_attempts(1)
    })
    .collect()
}

fn worker_config(queue: &str, sql_batch: usize) -> WorkerConfig {
    WorkerConfig {
        queues: vec![queue.into()],
        sql_batch,
        ..common::quick_config(16)
    }
}

/// Waits until nothing of `queue` is left to run. Retries are made due and promoted at once (the
/// tests drive maintenance by hand).
async fn drained(t: &common::TestDb, queue: &str) {
    let left = format!(
        "select count(*) from pgtide.executions where queue = '{queue}' \
         and status in ('scheduled', 'queued', 'running')"
    );
    let due = format!(
        "update pgtide.executions set visible_at = now() where queue = '{queue}' \
         and status = 'scheduled'"
    );
    wait_until(Duration::from_secs(60), "the queue to drain", || async {
        t.client().await.unwrap().execute(&due, &[]).await.unwrap();
        common::promote(t).await;
        scalar(t, &left).await == 0
    })
    .await;
}

/// How many succeeded jobs of `queue` there are, and how many distinct `finished_at` they have. A
/// row's `finished_at` is the `now()` of the transaction that marked it, so jobs that shared a
/// transaction share it.
async fn transactions(t: &common::TestDb, queue: &str) -> (i64, i64) {
    let row = t
        .client()
        .await
        .unwrap()
        .query_one(
            "select count(*), count(distinct finished_at) from pgtide.executions \
              where queue = $1 and status = 'succeeded'",
            &[&queue],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// Asserts the ledger after jobs `n` = 1..=`jobs` whose statement wrote `n` and then failed when `n`
/// is a multiple of `fails_every`: one effect per succeeded job, none per failed one, and each
/// failed job dead with its own error. Returns how many failed.
async fn assert_one_effect_per_success(t: &common::TestDb, jobs: i32, fails_every: i32) -> i64 {
    let failing = (1..=jobs).filter(|n| n % fails_every == 0).count() as i64;
    let succeeding = i64::from(jobs) - failing;
    assert_eq!(scalar(t, "select count(*) from ledger").await, succeeding);
    assert_eq!(
        scalar(t, "select count(distinct n) from ledger").await,
        succeeding,
        "no job has two effects"
    );
    assert_eq!(
        scalar(
            t,
            &format!("select count(*) from ledger where n % {fails_every} = 0")
        )
        .await,
        0,
        "a failed statement's write rolled back with it"
    );
    assert_eq!(
        scalar(
            t,
            "select count(*) from pgtide.executions e where status = 'succeeded' \
              and not exists (select from ledger l where l.n = (e.payload->>'n')::int)"
        )
        .await,
        0,
        "every succeeded job has its effect"
    );
    assert_eq!(
        scalar(
            t,
            &format!(
                "select count(*) from pgtide.executions where status = 'dead' \
                  and (payload->>'n')::int % {fails_every} = 0 \
                  and error like 'sql handler failed: 22012: %'"
            )
        )
        .await,
        failing,
        "each failing statement failed its own job, with its own error"
    );
    failing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_sql_jobs_have_one_effect_per_success_and_none_per_failure() {
    let t = test_db().await;
    ledger(&t).await;
    let mut registry = Registry::new();
    registry.insert_sql("write_or_fail", SqlHandler::new(WRITE_OR_FAIL));
    pgtide::enqueue_many(&t, &jobs("write_or_fail", "batched", 1..=600))
        .await
        .unwrap();
    let worker = RunningWorker::start(&t, registry.clone(), worker_config("batched", 32));
    drained(&t, "batched").await;
    worker.stop().await;

    let failing = assert_one_effect_per_success(&t, 600, 7).await;
    let (succeeded, commits) = transactions(&t, "batched").await;
    assert_eq!(succeeded, 600 - failing);
    assert!(
        commits * 4 <= succeeded,
        "jobs shared transactions: {succeeded} jobs in {commits} commits"
    );

    // The same jobs with sql_batch = 1: a transaction each, which the measure above tells apart.
    pgtide::enqueue_many(&t, &jobs("write_or_fail", "single", 1001..=1100))
        .await
        .unwrap();
    let worker = RunningWorker::start(&t, registry, worker_config("single", 1));
    drained(&t, "single").await;
    worker.stop().await;
    let (succeeded, commits) = transactions(&t, "single").await;
    assert_eq!(
        succeeded,
        100 - (1001..=1100).filter(|n| n % 7 == 0).count() as i64
    );
    assert!(
        commits * 100 >= succeeded * 95,
        "one job per transaction: {succeeded} jobs in {commits} commits"
    );
}

/// Writes its job's `n`, then fails when `n` is a multiple of 500.
const WRITE_OR_FAIL_RARELY: &str =
    "with ins as (insert into ledger (n) values (($1->>'n')::int) returning n) \
                             select n / (n % 500) from ins";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_over_64_jobs_share_a_transaction_and_a_failure_puts_at_most_64_under_savepoints() {
    let t = test_db().await;
    ledger(&t).await;
    // Each row records its top-level transaction. A row written under a savepoint has its
    // subtransaction's id as xmin, so the two differ exactly for the rows written under savepoints.
    t.client()
        .await
        .unwrap()
        .batch_execute("alter table ledger add column tx bigint not null default txid_current()")
        .await
        .unwrap();
    let mut registry = Registry::new();
    registry.insert_sql("rarely", SqlHandler::new(WRITE_OR_FAIL_RARELY));
    let config = worker_config("big", 256);
    let worker = RunningWorker::start(&t, registry, config);
    warm_up(&t, "rarely", "big").await;
    pgtide::enqueue_many(&t, &jobs("rarely", "big", 11..=4000))
        .await
        .unwrap();
    drained(&t, "big").await;
    worker.stop().await;

    assert_one_effect_per_success(&t, 4000, 500).await;
    let biggest = scalar(
        &t,
        "select max(c) from (select count(*) c from ledger group by tx) per_tx",
    )
    .await;
    assert!(
        biggest > 64,
        "batches of more than 64 jobs share a transaction: at most {biggest}"
    );
    let under_savepoints = "select count(*) c from ledger \
                             where tx % 4294967296 <> xmin::text::bigint group by tx";
    assert!(
        scalar(&t, &format!("select count(*) from ({under_savepoints}) s")).await >= 1,
        "some batch ran under savepoints"
    );
    let most = scalar(&t, &format!("select max(c) from ({under_savepoints}) s")).await;
    assert!(
        most <= 64,
        "a transaction with savepoints holds at most 64 statements: {most}"
    );
}

/// Runs `n` = 1..=10 through `handler` on `queue` so that the worker knows its statements are short
/// and batches them.
async fn warm_up(t: &common::TestDb, handler: &str, queue: &str) {
    pgtide::enqueue_many(t, &jobs(handler, queue, 1..=10))
        .await
        .unwrap();
    drained(t, queue).await;
}

/// Holds the gate of [`GATED`] until the transaction is dropped or rolled back.
async fn close_gate(client: &mut deadpool_postgres::Client) -> deadpool_postgres::Transaction<'_> {
    let gate = client.transaction().await.unwrap();
    gate.execute("select pg_advisory_xact_lock(4711)", &[])
        .await
        .unwrap();
    gate
}

async fn wait_at_gate(t: &common::TestDb) {
    wait_until(
        Duration::from_secs(20),
        "a statement waiting at the gate",
        || async {
            scalar(
                t,
                "select count(*) from pg_locks where locktype = 'advisory' and not granted",
            )
            .await
                >= 1
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_while_its_batch_runs_has_no_effect_and_the_rest_commit() {
    let t = test_db().await;
    ledger(&t).await;
    let mut registry = Registry::new();
    registry.insert_sql("gated", SqlHandler::new(GATED));
    let worker = RunningWorker::start(&t, registry, worker_config("gated", 32));
    warm_up(&t, "gated", "gated").await;

    let mut blocker = t.client().await.unwrap();
    let gate = close_gate(&mut blocker).await;
    pgtide::enqueue_many(&t, &jobs("gated", "gated", 101..=140))
        .await
        .unwrap();
    wait_at_gate(&t).await;
    // Every other running job is cancelled: among them the batch's jobs whose statements are sent
    // and waiting behind the gate, and jobs waiting for the next batch.
    let cancelled = scalar(
        &t,
        "select count(pgtide.cancel(id)) from pgtide.executions \
          where status = 'running' and (payload->>'n')::int % 2 = 1",
    )
    .await;
    assert!(cancelled >= 1, "some running jobs were cancelled");
    gate.rollback().await.unwrap();
    drained(&t, "gated").await;
    worker.stop().await;

    assert_eq!(
        scalar(
            &t,
            "select count(*) from ledger l join pgtide.executions e \
                on (e.payload->>'n')::int = l.n and e.status = 'cancelled'"
        )
        .await,
        0,
        "a cancelled job's statement never committed"
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'cancelled'"
        )
        .await,
        cancelled
    );
    assert_eq!(
        scalar(&t, "select count(*) from ledger where n > 100").await,
        40 - cancelled,
        "every other job of the batches committed"
    );
    assert_eq!(
        scalar(&t, "select count(distinct n) from ledger").await,
        scalar(&t, "select count(*) from ledger").await,
        "no job has two effects"
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'succeeded'"
        )
        .await,
        10 + 40 - cancelled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_commits_none_of_it_and_the_retries_commit_each_effect_once() {
    let t = test_db().await;
    ledger(&t).await;
    let dir = std::env::temp_dir().join(format!("pgtide-sql-batches-{}", t.name));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("pgtide.toml");
    std::fs::write(
        &config,
        format!(
            "[worker]\nqueues = [\"gated\"]\nconcurrency = 16\nlease = \"2s\"\n\n\
             [handlers.gated]\nkind = \"sql\"\nstatement = \"{GATED}\"\n"
        ),
    )
    .unwrap();
    let process = Process::start(
        &[
            "worker",
            "--database-url",
            &t.url,
            "--config",
            config.to_str().unwrap(),
        ],
        dir.join("worker.log"),
    );
    warm_up(&t, "gated", "gated").await;

    let mut blocker = t.client().await.unwrap();
    let gate = close_gate(&mut blocker).await;
    let retried: Vec<NewJob> = jobs("gated", "gated", 101..=140)
        .into_iter()
        .map(|job| job.max_attempts(3))
        .collect();
    pgtide::enqueue_many(&t, &retried).await.unwrap();
    wait_at_gate(&t).await;
    drop(process); // SIGKILL, in the middle of the batch's transaction
    gate.rollback().await.unwrap();
    // The killed worker's session runs the statements it had received, finds no client, and rolls
    // back, which releases the gate's shared locks its statements took.
    wait_until(
        Duration::from_secs(20),
        "the killed worker's transaction to end",
        || async {
            scalar(
                &t,
                "select count(*) from pg_locks where locktype = 'advisory'",
            )
            .await
                == 0
        },
    )
    .await;
    assert_eq!(
        scalar(&t, "select count(*) from ledger where n > 100").await,
        0,
        "nothing of the killed worker's batch committed"
    );
    // Counted once the worker is dead: until the kill it could still claim more.
    let held = scalar(
        &t,
        "select count(*) from pgtide.executions where status = 'running'",
    )
    .await;
    assert!(held >= 2, "the killed worker held several jobs ({held})");

    // Its leases expire; the rescuer turns them into retries, which a new worker runs.
    let retrying = std::time::Instant::now();
    let rescuer = pgtide::maintenance::Rescuer::new(t.db.clone(), 100);
    loop {
        rescuer.run_once().await.unwrap();
        if scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'running'",
        )
        .await
            == 0
        {
            break;
        }
        assert!(retrying.elapsed() < Duration::from_secs(30), "rescue");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut registry = Registry::new();
    registry.insert_sql("gated", SqlHandler::new(GATED));
    let worker = RunningWorker::start(&t, registry, worker_config("gated", 32));
    drained(&t, "gated").await;
    worker.stop().await;

    assert_eq!(
        scalar(&t, "select count(*) from ledger where n > 100").await,
        40
    );
    assert_eq!(
        scalar(&t, "select count(distinct n) from ledger where n > 100").await,
        40,
        "each job's effect exactly once"
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where (payload->>'n')::int > 100 \
              and status = 'succeeded'"
        )
        .await,
        40,
        "no job lost"
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where (payload->>'n')::int > 100 \
              and status = 'failed' and attempt = 1"
        )
        .await,
        held,
        "each job the killed worker held was rescued once"
    );
}

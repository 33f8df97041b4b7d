//! The fast path keeps the guarantees of the slow one: a crash between claim and flush loses no job,
//! the completion window bounds what a crash can make run again, an asynchronous claim never makes a
//! completion asynchronous, and bulk enqueue stays a key lookup however big the table is.

use crate::common;
use pgtide::maintenance::LeaderService;

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use common::{scalar, test_db, wait_until, RunningWorker};
use nix::{sys::signal::Signal, unistd::Pid};
use pgtide::{maintenance::Rescuer, NewJob, WorkerConfig};

/// Kills a child process on drop, so a failed assertion leaves no worker behind.
struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_crash_between_claim_and_flush_leaves_leased_rows_that_the_rescuer_retries() {
    let t = test_db().await;
    let dir = std::env::temp_dir().join(format!("pgtide-batching-{}", t.name));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("pgtide.toml");
    // The outcomes wait a whole second for their flush: the process is killed inside that second.
    std::fs::write(
        &config,
        "[worker]\nqueues = [\"crash\"]\nconcurrency = 8\nlease = \"2s\"\ncompletion_tick = \"1s\"\n",
    )
    .unwrap();
    let jobs: Vec<NewJob> = (0..8).map(|_| NewJob::new("noop").queue("crash")).collect();
    let ids = pgtide::enqueue_many(&t.db, &jobs).await.unwrap();

    let child = Proc(
        Command::new(env!("CARGO_BIN_EXE_pgtide"))
            .args([
                "worker",
                "--no-maintenance",
                "--database-url",
                &t.url,
                "--config",
            ])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until(Duration::from_secs(10), "all 8 jobs claimed", || async {
        scalar(
            &t.db,
            "select count(*) from pgtide.executions where status = 'running'",
        )
        .await
            == 8
    })
    .await;
    nix::sys::signal::kill(Pid::from_raw(child.0.id() as i32), Signal::SIGKILL).unwrap();
    drop(child);

    // The handlers ran, but their outcomes were never flushed: the rows are still leased to the
    // dead worker, and nothing succeeded.
    let client = t.db.client().await.unwrap();
    let row = client
        .query_one(
            "select count(*) filter (where status = 'running' and lease_until is not null
                                      and worker_id is not null) as leased,
                    count(*) filter (where status = 'succeeded') as succeeded
               from pgtide.executions where id = any($1)",
            &[&ids],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>("leased"), 8);
    assert_eq!(row.get::<_, i64>("succeeded"), 0);

    // After the lease, the rescuer turns each into a failed attempt with a scheduled retry.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let rescued = Rescuer::new(t.db.clone(), 100).run_once().await.unwrap();
    assert_eq!(rescued.len(), 8);
    let row = client
        .query_one(
            "select count(*) filter (where status = 'failed' and error like 'lease expired%')
                        as failed,
                    (select count(*) from pgtide.executions r
                      where r.retry_of = any($1) and r.attempt = 2 and r.status = 'scheduled')
                        as retries
               from pgtide.executions where id = any($1)",
            &[&ids],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>("failed"), 8);
    assert_eq!(row.get::<_, i64>("retries"), 8);
    let _ = std::fs::remove_dir_all(&dir);
}

// Multi-threaded, so the sampler is not starved by the worker it watches on a shared thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_completion_window_bounds_claimed_but_unrecorded_jobs() {
    let t = test_db().await;
    let jobs: Vec<NewJob> = (0..40)
        .map(|_| NewJob::new("nap").queue("window"))
        .collect();
    let ids = pgtide::enqueue_many(&t.db, &jobs).await.unwrap();
    // Four slots, room for two unrecorded outcomes, and flushes that wait 300 ms: without the
    // window the worker would claim everything while outcomes pile up in memory. Each job naps
    // 20 ms, so that the drain lasts long enough for the sampler to see it on a loaded machine
    // (with no-op jobs it could be over between two samples).
    let worker = RunningWorker::start(
        &t.db,
        common::registry(vec![(
            "nap",
            std::sync::Arc::new(common::handlers::Sleeps(Duration::from_millis(20))),
        )]),
        WorkerConfig {
            queues: vec!["window".into()],
            concurrency: 4,
            completion_batch: 2,
            completion_window: 2,
            completion_tick: Duration::from_millis(300),
            ..common::quick_config(4)
        },
    );
    let mut most_running = 0;
    loop {
        let running = scalar(
            &t.db,
            "select count(*) from pgtide.executions where status = 'running'",
        )
        .await;
        most_running = most_running.max(running);
        let left = scalar(
            &t.db,
            "select count(*) from pgtide.executions where status in ('queued', 'running')",
        )
        .await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    worker.stop().await;
    assert!(
        most_running <= 4 + 2,
        "at most concurrency + completion_window rows may be claimed and unrecorded; saw {most_running}"
    );
    assert!(most_running >= 1);
    let done = scalar(
        &t.db,
        &format!(
            "select count(*) from pgtide.executions where status = 'succeeded' and attempt = 1 \
             and id = any('{{{}}}'::bigint[])",
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        ),
    )
    .await;
    assert_eq!(done, 40);
}

#[tokio::test]
async fn an_asynchronous_claim_leaves_the_connection_synchronous_for_completions() {
    let t = test_db().await;
    pgtide::enqueue(&t.db, &NewJob::new("noop").queue("sync"))
        .await
        .unwrap();
    let mut client = t.db.client().await.unwrap();
    // The test cluster runs with synchronous_commit off; this session behaves like production.
    client
        .batch_execute("set synchronous_commit = on")
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    let claimed = tx
        .query(
            "select id, attempt from pgtide.claim(array['sync'], 10, 'w-1', 30, true)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // The claim's transaction commits asynchronously...
    let inside: String = tx
        .query_one("show synchronous_commit", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(inside, "off");
    tx.commit().await.unwrap();
    // ...and only that transaction: set_config(..., true) ends with it.
    let setting: String = client
        .query_one("show synchronous_commit", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(setting, "on");
    let (id, attempt): (i64, i32) = (claimed[0].get(0), claimed[0].get(1));
    // The completion commits synchronously, and a stranger's completion is fenced.
    let stranger = client
        .query(
            "select id from pgtide.complete('w-2', array[$1::bigint], array[$2::int], array[null::jsonb],
                                            '{}', '{}', '{}', '{}')",
            &[&id, &attempt],
        )
        .await
        .unwrap();
    assert!(stranger.is_empty());
    let recorded = client
        .query(
            "select id, status from pgtide.complete('w-1', array[$1::bigint], array[$2::int],
                                                    array['{\"ok\": true}'::jsonb], '{}', '{}', '{}', '{}')",
            &[&id, &attempt],
        )
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].get::<_, String>("status"), "succeeded");
    let setting: String = client
        .query_one("show synchronous_commit", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(setting, "on");
    let row = client
        .query_one(
            "select status::text, result, worker_id from pgtide.executions where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "succeeded");
    assert_eq!(
        row.get::<_, serde_json::Value>(1),
        serde_json::json!({"ok": true})
    );
    assert_eq!(row.get::<_, String>(2), "w-1");
}

#[tokio::test]
async fn bulk_enqueue_reports_existing_keys_by_lookup_and_generates_ordered_keys() {
    let t = test_db().await;
    let first = pgtide::enqueue_many(
        &t.db,
        &[
            NewJob::new("noop").idempotency_key("dup-a"),
            NewJob::new("noop"),
            NewJob::new("noop"),
        ],
    )
    .await
    .unwrap();
    let again = pgtide::enqueue_many(
        &t.db,
        &[
            NewJob::new("noop"),
            NewJob::new("noop").idempotency_key("dup-a"),
        ],
    )
    .await
    .unwrap();
    // The known key reports the existing row; the new job is a new row.
    assert_eq!(again[1], first[0]);
    assert!(!first.contains(&again[0]));
    assert_eq!(
        scalar(&t.db, "select count(*) from pgtide.executions").await,
        4
    );
    // Generated keys are version-7 UUIDs, in the order they were made.
    let keys: Vec<String> = t
        .db
        .client()
        .await
        .unwrap()
        .query(
            "select idempotency_key from pgtide.executions where idempotency_key <> 'dup-a' order by id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(keys.len(), 3);
    for key in &keys {
        assert_eq!(key.len(), 36, "{key}");
        assert_eq!(&key[14..15], "7", "version nibble of {key}");
    }
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        sorted.iter().map(|k| &k[..13]).collect::<Vec<_>>(),
        keys.iter().map(|k| &k[..13]).collect::<Vec<_>>(),
        "time prefixes are ordered"
    );
}

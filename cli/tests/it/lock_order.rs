//! Lock order: heartbeats, completion flushes, rescues and cancels hammer the same running rows at
//! once, with the statements pgtide sends (read from `sql/queries/`), and none of them ever meets a
//! deadlock.
//!
//! The cycle this guards against: a heartbeat extended the leases of every row its worker held, in
//! id order, while the worker's completion flush marked some of those rows succeeded (one statement)
//! and others failed (the next one). Each could hold a row the other wanted next: `deadlock detected
//! (40P01)`. Now the heartbeat never waits for a row lock (SKIP LOCKED), the completer sends its ids
//! in order, the rescuer skips locked rows, and a cancel locks one row: only the completer waits on
//! more than one row, so no cycle can form.

use crate::common;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use common::{scalar, test_db};
use rand::{seq::IndexedRandom, Rng};
use tokio_postgres::error::SqlState;

const EXTEND_LEASES: &str = include_str!("../../../sql/queries/worker/extend_leases.sql");
const COMPLETE: &str = include_str!("../../../sql/queries/worker/complete.sql");
const RESCUE: &str = include_str!("../../../sql/queries/maintenance/rescue.sql");
const WORKER: &str = "w1";

/// How often each path ran, and how often it met a deadlock.
#[derive(Default)]
struct Tally {
    runs: AtomicU64,
    deadlocks: AtomicU64,
}

impl Tally {
    fn record(&self, result: Result<(), tokio_postgres::Error>, path: &str) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = result {
            if e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED) {
                self.deadlocks.fetch_add(1, Ordering::Relaxed);
            } else if e.code() != Some(&SqlState::RAISE_EXCEPTION)
                && e.code().is_none_or(|c| !c.code().starts_with("22"))
            {
                panic!("{path} failed: {e:?}");
            }
        }
    }
}

/// `n` new running rows held by the worker, with a long lease; returns their ids.
async fn hold(db: &pgtide::Database, n: i64) -> Vec<i64> {
    db.client()
        .await
        .unwrap()
        .query(
            "insert into pgtide.executions (handler, status, worker_id, started_at, lease_until)
             select 'noop', 'running', $1, now(), now() + interval '1 hour'
               from generate_series(1, $2::bigint)
             returning id",
            &[&WORKER, &n],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn pick(ids: &Mutex<Vec<i64>>, n: usize) -> Vec<i64> {
    let ids = ids.lock().unwrap();
    let mut rng = rand::rng();
    let mut picked: Vec<i64> = ids.choose_multiple(&mut rng, n).copied().collect();
    picked.sort_unstable();
    picked.dedup();
    picked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_completions_rescues_and_cancels_never_deadlock() {
    let t = test_db().await;
    let db = t.db.clone();
    let ids = Arc::new(Mutex::new(hold(&db, 2000).await));
    let until = Instant::now() + Duration::from_secs(6);
    let (heartbeats, completions, rescues, cancels) = (
        Arc::new(Tally::default()),
        Arc::new(Tally::default()),
        Arc::new(Tally::default()),
        Arc::new(Tally::default()),
    );
    let mut tasks = tokio::task::JoinSet::new();

    // Two heartbeats of the worker: every row it holds, in one statement, as often as possible.
    for _ in 0..2 {
        let (db, ids, tally) = (db.clone(), ids.clone(), heartbeats.clone());
        tasks.spawn(async move {
            while Instant::now() < until {
                let held = pick(&ids, 400);
                let client = db.client().await.unwrap();
                let result = client
                    .query(EXTEND_LEASES, &[&held, &WORKER, &30.0f64])
                    .await
                    .map(drop);
                tally.record(result, "heartbeat");
            }
        });
    }
    // The worker's completer: batches of successes and failures, ids in order, as pgtide sends
    // them; it holds new rows as it finishes old ones.
    {
        let (db, ids, tally) = (db.clone(), ids.clone(), completions.clone());
        tasks.spawn(async move {
            while Instant::now() < until {
                let batch = pick(&ids, 120);
                let (mut ok, mut fail) = (Vec::new(), Vec::new());
                for id in batch {
                    if rand::rng().random_bool(0.5) {
                        ok.push(id);
                    } else {
                        fail.push(id);
                    }
                }
                let ok_attempts = vec![1i32; ok.len()];
                let ok_results = vec![None::<serde_json::Value>; ok.len()];
                let fail_attempts = vec![1i32; fail.len()];
                let fail_errors = vec!["boom"; fail.len()];
                let fail_permanent = vec![false; fail.len()];
                let client = db.client().await.unwrap();
                let result = client
                    .query(
                        COMPLETE,
                        &[
                            &WORKER,
                            &ok,
                            &ok_attempts,
                            &ok_results,
                            &fail,
                            &fail_attempts,
                            &fail_errors,
                            &fail_permanent,
                        ],
                    )
                    .await
                    .map(drop);
                tally.record(result, "completion");
                let fresh = hold(&db, 60).await;
                ids.lock().unwrap().extend(fresh);
            }
        });
    }
    // The rescuer, with leases expiring under it (one row per statement, so the test's own
    // backdating holds one lock at a time and cannot take part in a cycle).
    {
        let (db, ids, tally) = (db.clone(), ids.clone(), rescues.clone());
        tasks.spawn(async move {
            while Instant::now() < until {
                let client = db.client().await.unwrap();
                for id in pick(&ids, 20) {
                    client
                        .execute(
                            "update pgtide.executions set lease_until = now() - interval '1 s'
                              where id = $1 and status = 'running'",
                            &[&id],
                        )
                        .await
                        .unwrap();
                }
                let result = client.query(RESCUE, &[&100i64]).await.map(drop);
                tally.record(result, "rescue");
            }
        });
    }
    // An operator cancelling running rows.
    {
        let (db, ids, tally) = (db.clone(), ids.clone(), cancels.clone());
        tasks.spawn(async move {
            while Instant::now() < until {
                let id = pick(&ids, 1)[0];
                let client = db.client().await.unwrap();
                let result = client
                    .query("select pgtide.cancel($1)", &[&id])
                    .await
                    .map(drop);
                tally.record(result, "cancel");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    let report = |name: &str, tally: &Tally| {
        let (runs, deadlocks) = (
            tally.runs.load(Ordering::Relaxed),
            tally.deadlocks.load(Ordering::Relaxed),
        );
        println!("{name}: {runs} statements, {deadlocks} deadlocks");
        assert!(
            runs >= 20,
            "{name} ran only {runs} times: the test proves nothing"
        );
        deadlocks
    };
    let deadlocks = report("heartbeat", &heartbeats)
        + report("completion", &completions)
        + report("rescue", &rescues)
        + report("cancel", &cancels);
    assert_eq!(deadlocks, 0, "deadlocks detected");

    // Every path changed rows, and the rows are consistent: each failed attempt has its retry.
    let count = |sql: &'static str| scalar(&t, sql);
    assert!(count("select count(*) from pgtide.executions where status = 'succeeded'").await > 0);
    assert!(
        count("select count(*) from pgtide.executions where status = 'failed' and error = 'boom'")
            .await
            > 0
    );
    assert!(
        count("select count(*) from pgtide.executions where error like 'lease expired%'").await > 0
    );
    assert!(count("select count(*) from pgtide.executions where status = 'cancelled'").await > 0);
    assert_eq!(
        count(
            "select count(*) from pgtide.executions e where status = 'failed'
                and not exists (select 1 from pgtide.executions r where r.retry_of = e.id)"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            "select count(*) from pgtide.executions
              where status = 'running' and (worker_id is distinct from 'w1' or lease_until is null)"
        )
        .await,
        0
    );
}

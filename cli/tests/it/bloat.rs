//! Bloat and long transactions: 200,000 jobs through a worker with the pruner on, and an `idle in
//! transaction` session held open in the middle (through rounds 4 to 7, and at least 60 s).
//!
//! Runs on a private cluster with `autovacuum_naptime = 1s`, so autovacuum's reaction to pgtide's
//! per-table settings (see docs/reliability.md) shows within the test. The table size is read after
//! every round of 20,000 jobs: it grows to a working set, grows more while the old transaction pins
//! the xmin horizon (dead rows cannot be reclaimed then), and stops growing once it ends: the freed
//! space is reused, so nothing is degraded for good.

use crate::common;

use std::time::{Duration, Instant};

use pgtide::{
    maintenance::{Maintenance, MaintenanceConfig},
    Database, WorkerConfig,
};

const ROUNDS: usize = 10;
const PER_ROUND: i64 = 20_000;

use common::connect;

async fn scalar(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_thousand_jobs_and_an_idle_transaction_leave_the_table_bounded() {
    let _heavy = common::heavy().await;
    let (cluster, url, dir) = common::private_cluster(
        "bloat",
        &[("synchronous_commit", "off"), ("autovacuum_naptime", "1s")],
    )
    .await;
    let db = Database::connect(&url, 24).unwrap();

    let worker = common::RunningWorker::start(
        &db,
        common::registry(vec![]),
        WorkerConfig {
            concurrency: 16,
            ..Default::default()
        },
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let maintenance = tokio::spawn({
        let m = Maintenance::new(
            db.clone(),
            "bloat",
            MaintenanceConfig {
                retention: Duration::ZERO,
                prune_interval: Duration::from_secs(1),
                batch_size: 5000,
                ..Default::default()
            },
        );
        let stop = stop.clone();
        async move { m.run(stop).await }
    });

    let client = connect(&url).await;
    let size = "select pg_total_relation_size('pgtide.executions')";
    let mut sizes = Vec::new();
    let mut hold: Option<(
        tokio::task::JoinHandle<()>,
        tokio::sync::oneshot::Sender<()>,
    )> = None;
    let mut held_during = Vec::new();
    let started = Instant::now();
    for round in 1..=ROUNDS {
        if round == 4 {
            // Another application's session: it takes an xid and then sits idle in transaction for
            // at least 60 s and through round 7, however long the rounds take on a busy machine.
            let url = url.clone();
            let (tx, rx) = tokio::sync::oneshot::channel();
            let (release, released) = tokio::sync::oneshot::channel::<()>();
            let handle = tokio::spawn(async move {
                let idle = connect(&url).await;
                idle.batch_execute("begin; select txid_current();")
                    .await
                    .unwrap();
                let _ = tx.send(());
                tokio::time::sleep(Duration::from_secs(60)).await;
                let _ = released.await;
                idle.batch_execute("commit").await.unwrap();
            });
            hold = Some((handle, release));
            rx.await.unwrap();
        }
        if round == 8 {
            // The rounds after the release start once the old transaction has ended.
            let (handle, release) = hold.take().unwrap();
            let _ = release.send(());
            handle.await.unwrap();
        }
        client
            .execute(
                "insert into pgtide.executions (handler) select 'noop' from generate_series(1, $1::bigint)",
                &[&PER_ROUND],
            )
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while scalar(&client, "select count(*) from pgtide.executions").await > 0 {
            assert!(
                Instant::now() < deadline,
                "round {round} did not drain and prune"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let bytes = scalar(&client, size).await;
        if (4..8).contains(&round) {
            held_during.push(bytes);
        }
        sizes.push(bytes);
    }
    // Autovacuum catches up once nothing pins the horizon.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let dead = scalar(
            &client,
            "select n_dead_tup from pg_stat_user_tables where relid = 'pgtide.executions'::regclass",
        )
        .await;
        if dead < 1000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{dead} dead rows left a minute after the run"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let succeeded = worker
        .worker
        .stats()
        .succeeded
        .load(std::sync::atomic::Ordering::Relaxed);
    worker.stop().await;
    stop.cancel();
    maintenance.await.unwrap();

    assert_eq!(succeeded, ROUNDS as u64 * PER_ROUND as u64, "every job ran");
    let mb = |b: &i64| format!("{:.1}", *b as f64 / 1048576.0);
    let peak = *sizes.iter().max().unwrap();
    let after_release = &sizes[7..];
    println!(
        "bloat: {} jobs in {:.0?}; pgtide.executions total size per round (MB): {} (rounds 4-7 ran beside an idle transaction of at least 60 s)",
        ROUNDS as i64 * PER_ROUND,
        started.elapsed(),
        sizes.iter().map(mb).collect::<Vec<_>>().join(", ")
    );
    // Before the long transaction the size levels off after a round or two (space is reused)...
    // (autovacuum may also truncate the file's empty tail, so single rounds jump around; the bound is
    // what matters: one round's 20,000 rows and their indexes, a few times over, never the 60,000 of
    // three rounds. A faster drain leaves more dead row versions between two autovacuums, so the
    // bound is 32 MiB or two and a half times the first round, whichever is larger.)
    let before = *sizes[..3].iter().max().unwrap();
    assert!(
        before < (32 * 1048576).max(sizes[0] * 5 / 2),
        "no plateau before the idle transaction: {sizes:?}"
    );
    // ...while it runs, dead rows cannot be reclaimed and the table grows...
    assert!(held_during.last() > held_during.first(), "{sizes:?}");
    // ...and after it ends the table stops growing: autovacuum reclaims the space (and may truncate
    // the file), and later rounds reuse it.
    for bytes in after_release {
        assert!(
            *bytes <= peak,
            "the table grew after the old transaction ended: {sizes:?}"
        );
    }
    assert!(
        sizes[ROUNDS - 1] * 4 <= sizes[ROUNDS - 3].max(sizes[ROUNDS - 2]) * 5,
        "still growing after the release: {sizes:?}"
    );
    println!(
        "bloat: before the idle transaction at most {} MB, its peak {} MB, after it {} MB",
        mb(&before),
        mb(&peak),
        mb(&sizes[ROUNDS - 1])
    );

    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

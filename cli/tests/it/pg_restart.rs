//! Postgres crashes twice under load: `pg_ctl restart -m immediate` cuts every session without a
//! checkpoint, and the server comes back through crash recovery.
//!
//! Two `pgtide run` processes (worker, scheduler and maintenance each) work on a private cluster: 2,000
//! jobs of a `sql` handler become due over 16 s, and a cron task fires every second. The cluster is
//! crash-restarted at 5 s and at 11 s. Afterwards every job has exactly one ledger row, every cron slot
//! of the run fired exactly once (the ones due while the server was down fired late, under the misfire
//! policy), and each process logged that its LISTEN connections came back, without a panic.

use crate::common;

use std::time::{Duration, Instant};

const JOBS: i64 = 2000;

use common::{try_connect as connect, Process};

/// A scalar on a fresh connection, retried while the server is coming back.
async fn scalar(url: &str, sql: &str) -> i64 {
    for _ in 0..100 {
        if let Some(client) = connect(url).await {
            if let Ok(row) = client.query_one(sql, &[]).await {
                return row.get(0);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the database did not come back for: {sql}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_immediate_restarts_lose_no_job_and_miss_no_cron_slot() {
    let _heavy = common::heavy().await;
    let (cluster, url, dir) = common::private_cluster("restart", &[]).await;
    let setup = connect(&url).await.unwrap();
    common::ledger_jobs(&setup, JOBS, 16).await;

    let config = common::ledger_config(&dir);
    let config = config.to_str().unwrap();
    let procs: Vec<Process> = (0..2)
        .map(|i| {
            Process::start(
                &["run", "--database-url", &url, "--config", config],
                dir.join(format!("run-{i}.log")),
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    setup
        .batch_execute("select pgtide.create_task('tick', 'noop', cron => '* * * * * *')")
        .await
        .unwrap();
    drop(setup);

    let started = Instant::now();
    let cluster = std::sync::Arc::new(cluster);
    for at in [5, 11] {
        tokio::time::sleep_until((started + Duration::from_secs(at)).into()).await;
        let c = cluster.clone();
        tokio::task::spawn_blocking(move || c.restart_immediate())
            .await
            .unwrap()
            .expect("pg_ctl restart -m immediate");
    }
    tokio::time::sleep_until((started + Duration::from_secs(20)).into()).await;
    let unfinished = "select count(*) from pgtide.executions
                       where handler = 'ledger' and status in ('queued', 'scheduled', 'running')";
    let deadline = Instant::now() + Duration::from_secs(60);
    while scalar(&url, unfinished).await > 0 {
        assert!(
            Instant::now() < deadline,
            "jobs still unfinished a minute after the run"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The scheduler has been caught up for a while: stop the processes and read the ledgers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut logs = Vec::new();
    for mut p in procs {
        p.terminate();
        logs.push(p.log_text());
    }

    // Every job exactly once, none lost; every cron slot from the first to the last fired exactly
    // once: none missed across the crashes.
    let client = connect(&url).await.unwrap();
    let retried = common::assert_ledger_exactly_once(&client, JOBS).await;
    let span = common::assert_every_second_fired_once(&client, "tick").await;
    assert!(span >= 18, "the cron task ran for {span} s only");
    drop(client);

    for (i, log) in logs.iter().enumerate() {
        assert!(
            !log.contains("panicked") && !log.contains("stack backtrace"),
            "process {i} panicked:\n{log}"
        );
        let relistened = log.matches("LISTEN connection re-established").count();
        assert!(
            relistened >= 2,
            "process {i} re-LISTENed {relistened} times:\n{log}"
        );
    }
    println!(
        "restarts: 2 survived; {JOBS} jobs succeeded exactly once ({retried} attempts cut by the crashes \
         and retried); {span} cron slots fired once each"
    );

    let cluster = std::sync::Arc::try_unwrap(cluster).expect("one owner left");
    common::stop_cluster(cluster, &[&dir]).await;
}

/// The reconnect delay: a worker under load whose server crashes and stays down for 4 s claims
/// again less than one poll interval after the server accepts connections, because its LISTEN
/// connection retries at most every 500 ms and its reconnect ends the claim loop's backoff at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_resume_within_one_poll_interval_of_the_server_accepting_connections() {
    let _heavy = common::heavy().await;
    let (cluster, url, dir) =
        common::private_cluster("reconnect", &[("log_timezone", "UTC")]).await;
    let setup = connect(&url).await.unwrap();
    setup
        .batch_execute(
            "insert into pgtide.executions (handler, status)
             select 'noop', 'queued' from generate_series(1, 300000)",
        )
        .await
        .unwrap();
    let db = pgtide::Database::connect(&url, 12).unwrap();
    let config = pgtide::WorkerConfig {
        concurrency: 4,
        ..Default::default()
    };
    let poll_interval = config.poll_interval;
    let worker = common::RunningWorker::start(&db, pgtide::handlers::Registry::new(), config);
    let claimed = "select count(*) from pgtide.executions where started_at is not null";
    while scalar(&url, claimed).await < 1000 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(setup);

    let cluster = std::sync::Arc::new(cluster);
    let mut delays = Vec::new();
    for _ in 0..2 {
        // Down for 4 s: long enough for a backoff that doubles to outgrow the poll interval.
        let c = cluster.clone();
        tokio::task::spawn_blocking(move || c.crash_for(Duration::from_secs(4)))
            .await
            .unwrap()
            .expect("pg_ctl stop -m immediate, then start");
        let ready = common::ready_at(&cluster.log_path());
        let first_claim = "select count(*) from pgtide.executions where started_at > $1";
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(client) = connect(&url).await {
                if let Ok(row) = client.query_one(first_claim, &[&ready]).await {
                    if row.get::<_, i64>(0) > 0 {
                        break;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no claim within 30 s of the restart"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let client = connect(&url).await.unwrap();
        let delay_ms: f64 = client
            .query_one(
                "select (extract(epoch from min(started_at) - $1) * 1000)::float8
                   from pgtide.executions where started_at > $1",
                &[&ready],
            )
            .await
            .unwrap()
            .get(0);
        delays.push(delay_ms);
        // Let it run a little before the next crash.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let queued = scalar(
        &url,
        "select count(*) from pgtide.executions where status = 'queued'",
    )
    .await;
    assert!(
        queued > 0,
        "the backlog ran out: the worker was not under load throughout"
    );
    for delay in &delays {
        assert!(
            *delay < poll_interval.as_secs_f64() * 1000.0,
            "claims resumed {delay:.0} ms after the server accepted connections (poll interval {poll_interval:?})"
        );
    }
    println!(
        "reconnect delay after a crash restart: {delays:.0?} ms (poll interval {poll_interval:?})"
    );
    worker.stop().await;
    db.pool().close();
    let cluster = std::sync::Arc::try_unwrap(cluster).expect("one owner left");
    common::stop_cluster(cluster, &[&dir]).await;
}

//! Postgres crashes twice under load: `pg_ctl restart -m immediate` cuts every session without a
//! checkpoint, and the server comes back through crash recovery.
//!
//! Two `pgtide run` processes (worker, scheduler and maintenance each) work on a private cluster: 2,000
//! jobs of a `sql` handler become due over 16 s, and a cron task fires every second. The cluster is
//! crash-restarted at 5 s and at 11 s. Afterwards every job has exactly one ledger row, every cron slot
//! of the run fired exactly once (the ones due while the server was down fired late, under the misfire
//! policy), and each process logged that its LISTEN connections came back, without a panic.

mod common;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const JOBS: i64 = 2000;

async fn connect(url: &str) -> Option<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(connection);
    Some(client)
}

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

struct Proc(Child, PathBuf);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_immediate_restarts_lose_no_job_and_miss_no_cron_slot() {
    let (cluster, url, dir) = common::private_cluster("restart", &[]).await;
    let setup = connect(&url).await.unwrap();
    setup
        .batch_execute(&format!(
            "create table ledger (n int not null);
             insert into pgtide.executions (handler, payload, status, visible_at)
             select 'ledger', jsonb_build_object('n', n), 'scheduled',
                    now() + interval '1 s' + (n % 160) * interval '100 ms'
               from generate_series(1, {JOBS}) n;"
        ))
        .await
        .unwrap();

    let config = dir.join("pgtide.toml");
    std::fs::write(
        &config,
        r#"
[worker]
concurrency = 8
lease = "5s"
[maintenance]
leader_ttl = "3s"
rescue_interval = "1s"
[handlers.ledger]
kind = "sql"
statement = "insert into ledger (n) values (($1->>'n')::int)"
"#,
    )
    .unwrap();
    let procs: Vec<Proc> = (0..2)
        .map(|i| {
            let log = dir.join(format!("run-{i}.log"));
            let child = Command::new(env!("CARGO_BIN_EXE_pgtide"))
                .args(["run", "--database-url", &url, "--config"])
                .arg(&config)
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            Proc(child, log)
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
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let _ = p.0.wait();
        logs.push(std::fs::read_to_string(&p.1).unwrap());
    }

    // Every job exactly once, none lost.
    assert_eq!(
        scalar(&url, "select count(distinct n) from ledger").await,
        JOBS
    );
    assert_eq!(scalar(&url, "select count(*) from ledger").await, JOBS);
    let succeeded = scalar(
        &url,
        "select count(*) from pgtide.executions where handler = 'ledger' and status = 'succeeded'",
    )
    .await;
    assert_eq!(succeeded, JOBS);
    let retried = scalar(
        &url,
        "select count(*) from pgtide.executions where handler = 'ledger' and status = 'failed'",
    )
    .await;

    // Every cron slot from the first to the last fired exactly once: none missed across the crashes.
    let slots = scalar(
        &url,
        "select count(*) from pgtide.executions e join pgtide.tasks t on t.id = e.task_id
          where t.name = 'tick'",
    )
    .await;
    let distinct = scalar(
        &url,
        "select count(distinct scheduled_for) from pgtide.executions e join pgtide.tasks t on t.id = e.task_id
          where t.name = 'tick'",
    )
    .await;
    let span = scalar(
        &url,
        "select (extract(epoch from max(scheduled_for) - min(scheduled_for)))::bigint + 1
           from pgtide.executions e join pgtide.tasks t on t.id = e.task_id where t.name = 'tick'",
    )
    .await;
    assert_eq!(slots, distinct, "a cron slot fired twice");
    assert_eq!(distinct, span, "a cron slot is missing");
    assert!(span >= 18, "the cron task ran for {span} s only");

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
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// When the server logged "ready to accept connections" for the last time.
fn ready_at(log: &std::path::Path) -> chrono::DateTime<chrono::Utc> {
    let text = std::fs::read_to_string(log).unwrap();
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("database system is ready to accept connections"))
        .expect("the server logged that it is ready");
    // log_line_prefix '%m [%p] ' with log_timezone = UTC: "2026-12-01 22:30:15.282 UTC [123] LOG: ..."
    let stamp = chrono::NaiveDateTime::parse_from_str(&line[..23], "%Y-%m-%d %H:%M:%S%.3f")
        .unwrap_or_else(|e| panic!("{e}: {line}"));
    stamp.and_utc()
}

/// The reconnect delay: a worker under load whose server crashes and stays down for 4 s claims
/// again less than one poll interval after the server accepts connections, because its LISTEN
/// connection retries at most every 500 ms and its reconnect ends the claim loop's backoff at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_resume_within_one_poll_interval_of_the_server_accepting_connections() {
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
        let ready = ready_at(&cluster.log_path());
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
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

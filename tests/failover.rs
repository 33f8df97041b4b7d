//! A failover to a promoted standby, carried by one `pgtide run` process without a restart.
//!
//! A primary streams to a synchronous standby (made with `pg_basebackup -R`). One `pgtide run` works
//! on a two-host URL with `target_session_attrs=read-write`: 3,000 jobs of a `sql` handler become due
//! over 12 s, and a cron task fires every second. At 5 s the primary is stopped with
//! `pg_ctl stop -m immediate`; for 3 s no host accepts writes (the standby is still a standby), and
//! then the standby is promoted. Afterwards every job has exactly one ledger row, every cron slot of
//! the run fired exactly once, the same process is still running, its LISTEN connections, leader
//! lease and completions carried on against the new primary, and while no host took writes it said
//! so, again and again. The time from the promotion to the first job done is reported.

mod common;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use pgtide::embedded::{EmbeddedOptions, EmbeddedPostgres};

const JOBS: i64 = 3000;

/// A plain connection to one server (both are plain-text clusters here), or `None` while it is down.
async fn connect(url: &str) -> Option<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(connection);
    Some(client)
}

async fn scalar(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

struct Proc(Child, PathBuf);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_carries_on_across_a_failover_to_the_promoted_standby() {
    let (primary, primary_url, dir) = common::private_cluster("failover", &[]).await;
    let standby = dir.join("standby");
    let primary = std::sync::Arc::new(primary);
    tokio::task::spawn_blocking({
        let (primary, standby) = (primary.clone(), standby.clone());
        move || primary.base_backup(&standby)
    })
    .await
    .unwrap()
    .expect("pg_basebackup -R");
    let standby = tokio::task::spawn_blocking(move || {
        EmbeddedPostgres::start(
            &standby,
            &EmbeddedOptions {
                settings: vec![("fsync".into(), "off".into())],
            },
        )
    })
    .await
    .unwrap()
    .expect("starting the standby");
    let standby_url = standby.url("postgres");

    let on_primary = connect(&primary_url).await.unwrap();
    common::wait_until(Duration::from_secs(30), "the standby streaming", || {
        let c = &on_primary;
        async move {
            scalar(
                c,
                "select count(*) from pg_stat_replication where state = 'streaming'",
            )
            .await
                == 1
        }
    })
    .await;
    // Synchronous from now on (set after the base backup, so the promoted standby does not wait
    // for a standby of its own): every acknowledged commit is on both servers.
    for statement in [
        "alter system set synchronous_standby_names = '*'",
        "select pg_reload_conf()",
    ] {
        on_primary.batch_execute(statement).await.unwrap();
    }
    common::wait_until(Duration::from_secs(10), "the standby synchronous", || {
        let c = &on_primary;
        async move {
            scalar(
                c,
                "select count(*) from pg_stat_replication where sync_state = 'sync'",
            )
            .await
                == 1
        }
    })
    .await;
    on_primary
        .batch_execute(&format!(
            "create table ledger (n int not null);
             insert into pgtide.executions (handler, payload, status, visible_at)
             select 'ledger', jsonb_build_object('n', n), 'scheduled',
                    now() + interval '1 s' + (n % 120) * interval '100 ms'
               from generate_series(1, {JOBS}) n;"
        ))
        .await
        .unwrap();

    let both = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
        primary.port(),
        standby.port()
    );
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
    let log = dir.join("run.log");
    let mut run = Proc(
        Command::new(env!("CARGO_BIN_EXE_pgtide"))
            .args(["run", "--database-url", &both, "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
        log.clone(),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    on_primary
        .batch_execute("select pgtide.create_task('tick', 'noop', cron => '* * * * * *')")
        .await
        .unwrap();
    drop(on_primary);

    // The primary dies at 5 s. For 3 s there is no writable host.
    let started = Instant::now();
    tokio::time::sleep_until((started + Duration::from_secs(5)).into()).await;
    tokio::task::spawn_blocking({
        let primary = primary.clone();
        move || primary.stop_immediate()
    })
    .await
    .unwrap()
    .expect("pg_ctl stop -m immediate");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let warned = std::fs::read_to_string(&log)
        .unwrap()
        .matches("does not accept writes")
        .count();
    assert!(
        warned >= 2,
        "while no host accepted writes, the process warned {warned} times:\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert!(
        run.0.try_wait().unwrap().is_none(),
        "the process exited without a writable host"
    );

    // Promotion.
    let standby = std::sync::Arc::new(standby);
    tokio::task::spawn_blocking({
        let standby = standby.clone();
        move || standby.promote()
    })
    .await
    .unwrap()
    .expect("pg_ctl promote");
    let on_new = connect(&standby_url).await.unwrap();
    let promoted_at: chrono::DateTime<chrono::Utc> =
        on_new.query_one("select now()", &[]).await.unwrap().get(0);

    let unfinished = "select count(*) from pgtide.executions
                       where handler = 'ledger' and status in ('queued', 'scheduled', 'running')";
    let deadline = Instant::now() + Duration::from_secs(90);
    while scalar(&on_new, unfinished).await > 0 {
        assert!(
            Instant::now() < deadline,
            "jobs still unfinished 90 s after the promotion:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the scheduler run a few more slots on the new primary.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        run.0.try_wait().unwrap().is_none(),
        "the process did not survive the failover:\n{}",
        std::fs::read_to_string(&log).unwrap()
    );

    // The first job done after the promotion, and the leader lease renewed since.
    let first_done_ms: f64 = on_new
        .query_one(
            "select (extract(epoch from min(finished_at) - $1) * 1000)::float8
               from pgtide.executions where handler = 'ledger' and finished_at > $1",
            &[&promoted_at],
        )
        .await
        .unwrap()
        .get::<_, Option<f64>>(0)
        .expect("no job finished after the promotion");
    let lease_renewed: bool = on_new
        .query_one(
            "select expires_at > now() and expires_at - interval '3 s' > $1
               from pgtide.leader where name = 'maintenance'",
            &[&promoted_at],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        lease_renewed,
        "the leader lease was not renewed on the new primary"
    );
    let listening = scalar(
        &on_new,
        "select count(*) from pg_stat_activity
          where application_name = 'pgtide' and query ilike 'listen%'",
    )
    .await;
    assert!(
        listening >= 2,
        "{listening} LISTEN connections on the new primary (worker and scheduler expected)"
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(run.0.wait().unwrap().success());
    let text = std::fs::read_to_string(&run.1).unwrap();
    assert!(!text.contains("panicked"), "{text}");

    // Every job exactly once, none lost.
    assert_eq!(
        scalar(&on_new, "select count(distinct n) from ledger").await,
        JOBS
    );
    assert_eq!(scalar(&on_new, "select count(*) from ledger").await, JOBS);
    assert_eq!(
        scalar(
            &on_new,
            "select count(*) from pgtide.executions where handler = 'ledger' and status = 'succeeded'"
        )
        .await,
        JOBS
    );
    // Every cron slot from the first to the last exactly once.
    let tick =
        "from pgtide.executions e join pgtide.tasks t on t.id = e.task_id where t.name = 'tick'";
    let slots = scalar(&on_new, &format!("select count(*) {tick}")).await;
    let distinct = scalar(
        &on_new,
        &format!("select count(distinct scheduled_for) {tick}"),
    )
    .await;
    let span = scalar(
        &on_new,
        &format!(
            "select (extract(epoch from max(scheduled_for) - min(scheduled_for)))::bigint + 1 {tick}"
        ),
    )
    .await;
    assert_eq!(slots, distinct, "a cron slot fired twice");
    assert_eq!(distinct, span, "a cron slot is missing");
    assert!(span >= 10, "the cron task ran for {span} s only");
    let retried = scalar(
        &on_new,
        "select count(*) from pgtide.executions where handler = 'ledger' and status = 'failed'",
    )
    .await;
    println!(
        "failover: first job done {first_done_ms:.0} ms after the promotion; {JOBS} jobs succeeded \
         exactly once ({retried} attempts cut by the failover and retried); {span} cron slots fired \
         once each; {warned} warnings while no host accepted writes"
    );

    drop(on_new);
    let standby = std::sync::Arc::try_unwrap(standby).expect("one owner left");
    tokio::task::spawn_blocking(move || standby.stop())
        .await
        .unwrap()
        .unwrap();
    if std::env::var_os("KEEP_FAILOVER_LOG").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

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

use crate::common;

use std::time::{Duration, Instant};

use common::{try_connect as connect, Process};
use pgtide::embedded::{EmbeddedOptions, EmbeddedPostgres};

const JOBS: i64 = 3000;

async fn scalar(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_carries_on_across_a_failover_to_the_promoted_standby() {
    let _heavy = common::heavy().await;
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
                settings: vec![
                    ("fsync".into(), "off".into()),
                    ("log_timezone".into(), "UTC".into()),
                ],
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
    common::ledger_jobs(&on_primary, JOBS, 12).await;

    // Over TCP, with the cluster's password (the standby has the primary's).
    let both = format!(
        "postgres://postgres:{}@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
        common::url_password(&primary.tcp_url("postgres")).unwrap(),
        primary.port(),
        standby.port()
    );
    let config = common::ledger_config(&dir);
    let mut run = Process::start(
        &[
            "run",
            "--database-url",
            &both,
            "--config",
            config.to_str().unwrap(),
        ],
        dir.join("run.log"),
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
    let warned = run.log_text().matches("does not accept writes").count();
    assert!(
        warned >= 2,
        "while no host accepted writes, the process warned {warned} times:\n{}",
        run.log_text()
    );
    assert!(
        run.child.try_wait().unwrap().is_none(),
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
    // The promotion's moment, as the server logged it.
    let promoted_at = common::ready_at(&standby.log_path());

    let unfinished = "select count(*) from pgtide.executions
                       where handler = 'ledger' and status in ('queued', 'scheduled', 'running')";
    let deadline = Instant::now() + Duration::from_secs(90);
    while scalar(&on_new, unfinished).await > 0 {
        assert!(
            Instant::now() < deadline,
            "jobs still unfinished 90 s after the promotion:\n{}",
            run.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the scheduler run a few more slots on the new primary.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        run.child.try_wait().unwrap().is_none(),
        "the process did not survive the failover:\n{}",
        run.log_text()
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
    // A LISTEN connection's last statement is its LISTEN, or the empty ping it sends after
    // `listen_ping` (15 s) of quiet, which a slow drain on a loaded machine can outlast.
    let listeners = "select count(*) from pg_stat_activity
                      where application_name = 'pgtide' and (query ilike 'listen%' or query = '')";
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut listening = scalar(&on_new, listeners).await;
    while listening < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        listening = scalar(&on_new, listeners).await;
    }
    assert!(
        listening >= 2,
        "{listening} LISTEN connections on the new primary (worker and scheduler expected):\n{}",
        run.log_text()
    );

    assert!(run.terminate(), "the process did not stop cleanly");
    let text = run.log_text();
    assert!(!text.contains("panicked"), "{text}");

    // Every job exactly once, none lost; every cron slot from the first to the last exactly once.
    let retried = common::assert_ledger_exactly_once(&on_new, JOBS).await;
    let span = common::assert_every_second_fired_once(&on_new, "tick").await;
    assert!(span >= 10, "the cron task ran for {span} s only");
    println!(
        "failover: first job done {first_done_ms:.0} ms after the promotion; {JOBS} jobs succeeded \
         exactly once ({retried} attempts cut by the failover and retried); {span} cron slots fired \
         once each; {warned} warnings while no host accepted writes"
    );

    drop(on_new);
    let standby = std::sync::Arc::try_unwrap(standby).expect("one owner left");
    // KEEP_FAILOVER_LOG=1 keeps the directory, with the process's log, for a look afterwards.
    let dirs = [dir.as_path()];
    let keep = std::env::var_os("KEEP_FAILOVER_LOG").is_some();
    common::stop_cluster(standby, if keep { &[] } else { &dirs }).await;
}

/// A host that accepts TCP connections and then never answers (a half-dead server, a proxy with no
/// backend) costs each connection `connect_timeout`, never a hang: the next host is tried, and a
/// string with no other host fails with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_never_answers_is_skipped_after_connect_timeout() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    // Accept and hold every connection, answering nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming() {
            held.push(stream);
        }
    });
    let t = common::test_db().await;
    let server = common::server_addr(&t.tcp_url);
    let both = format!(
        "postgres://postgres:{}@127.0.0.1:{silent_port},{server}/{}?connect_timeout=1",
        common::url_password(&t.tcp_url).unwrap_or_default(),
        t.name
    );
    let started = Instant::now();
    let db = pgtide::Database::connect(&both, 1).unwrap();
    let one = scalar(&db.client().await.unwrap(), "select 1::int8").await;
    assert_eq!(one, 1);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "the silent host cost {took:?}"
    );

    let alone = format!("postgres://postgres@127.0.0.1:{silent_port}/x?connect_timeout=1");
    let started = Instant::now();
    let e = pgtide::Database::connect(&alone, 1)
        .unwrap()
        .client()
        .await
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        e,
        format!("connecting to the database: 127.0.0.1:{silent_port} (TLS if offered): no answer within 1s")
    );
}

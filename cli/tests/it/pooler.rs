//! Poll-only mode through a real PgBouncer in transaction pooling mode.
//!
//! PgBouncer (Debian's package; `.ci/run` installs it) sits between pgtide and the test server with
//! `pool_mode = transaction` and only two server connections, so consecutive transactions of one client
//! land on different server sessions. Anything that relied on session state would break loudly: a named
//! prepared statement would be missing on the next server connection, a LISTEN would be lost, a session
//! advisory lock would be held by whoever got the connection. A worker, the scheduler, the maintenance
//! loop and the admin API all run through it in pooler mode, and the test checks the rows they produce.

use crate::common;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{scalar, test_db, wait_until, RunningWorker};
use pgtide::{
    handlers::{Registry, SqlHandler},
    maintenance::{Maintenance, MaintenanceConfig},
    scheduler::{Scheduler, SchedulerConfig},
    Database, NewJob, WorkerConfig,
};

const PGBOUNCER: &str = "/usr/sbin/pgbouncer";

struct Bouncer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        // As root the child is `runuser`, and killing it leaves PgBouncer running: stop PgBouncer
        // itself through its pid file.
        if let Some(pid) = std::fs::read_to_string(self.dir.join("pgbouncer.pid"))
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts PgBouncer in transaction mode in front of `server` (host:port), logging in with
/// `password`.
async fn start_pgbouncer(server: &str, password: Option<&str>) -> Bouncer {
    let (host, port) = server.split_once(':').unwrap();
    // The server wants a password over TCP: PgBouncer logs in with the user's entry in its
    // auth file (clients log in to PgBouncer itself without one: auth_type = trust).
    let password = password.unwrap_or_default();
    let listen_port = common::free_port();
    // One directory per bouncer: two tests of this process may run one each at once.
    let dir = std::env::temp_dir().join(format!(
        "pgtide-bouncer-{}-{listen_port}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("userlist.txt"),
        format!("\"postgres\" \"{password}\"\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("pgbouncer.ini"),
        format!(
            "[databases]\n* = host={host} port={port}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\n\
             listen_port = {listen_port}\nunix_socket_dir =\nauth_type = trust\n\
             auth_file = {auth}\npool_mode = transaction\ndefault_pool_size = 2\nmax_client_conn = 500\n\
             server_reset_query =\nlogfile = {log}\npidfile = {pid}\n",
            auth = dir.join("userlist.txt").display(),
            log = dir.join("pgbouncer.log").display(),
            pid = dir.join("pgbouncer.pid").display(),
        ),
    )
    .unwrap();
    // PgBouncer refuses to run as root.
    let mut command = if nix::unistd::geteuid().is_root() {
        nix::unistd::chown(
            &dir,
            nix::unistd::User::from_name("postgres")
                .unwrap()
                .map(|u| u.uid),
            None,
        )
        .unwrap();
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", PGBOUNCER]);
        c
    } else {
        Command::new(PGBOUNCER)
    };
    let child = command
        .arg(dir.join("pgbouncer.ini"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let bouncer = Bouncer {
        child,
        port: listen_port,
        dir,
    };
    wait_until(Duration::from_secs(10), "pgbouncer to accept", || async {
        std::net::TcpStream::connect(("127.0.0.1", listen_port)).is_ok()
    })
    .await;
    bouncer
}

/// A fresh test database behind its own PgBouncer, and the URL to reach it through the bouncer;
/// `None` (the test skips, or fails under PGTIDE_REQUIRE_TOOLS) without PgBouncer.
async fn bounced_test_db() -> Option<(common::TestDb, Bouncer, String)> {
    if !common::tool_available(
        "the PgBouncer test",
        PGBOUNCER,
        std::path::Path::new(PGBOUNCER).exists(),
        "Debian/Ubuntu: apt-get install pgbouncer",
    ) {
        return None;
    }
    let t = test_db().await;
    let server = common::server_addr(&t.tcp_url);
    let bouncer = start_pgbouncer(&server, common::url_password(&t.tcp_url)).await;
    // Clients log in to PgBouncer without a password (auth_type = trust).
    let url = common::with_user(
        &t.tcp_url
            .replace(&server, &format!("127.0.0.1:{}", bouncer.port)),
        "postgres",
        "",
    );
    Some((t, bouncer, url))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_scheduler_maintenance_and_admin_run_through_pgbouncer_in_transaction_mode() {
    let Some((t, bouncer, url)) = bounced_test_db().await else {
        return;
    };
    t.client()
        .await
        .unwrap()
        .batch_execute("create table ledger (n int not null)")
        .await
        .unwrap();

    let db = Database::connect(&url, 8).unwrap().for_transaction_pooler();
    // The schema is current, so migrate() only reads its version (no advisory lock needed).
    pgtide::migrate(&db).await.unwrap();

    let mut registry = Registry::new();
    registry.insert_sql(
        "ledger",
        SqlHandler::new("insert into ledger (n) values (($1->>'n')::int)"),
    );
    registry.insert(
        "fails_once",
        std::sync::Arc::new(common::handlers::AlwaysFails),
        None,
    );
    let worker = RunningWorker::start(
        &db,
        registry,
        WorkerConfig {
            concurrency: 8,
            listen: false,
            poll_interval: Duration::from_millis(100),
            lease: Duration::from_secs(5),
            ..Default::default()
        },
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let maintenance = tokio::spawn({
        let m = Maintenance::new(
            db.clone(),
            "bounced",
            MaintenanceConfig {
                promote_interval: Duration::from_millis(200),
                ..Default::default()
            },
        );
        let stop = stop.clone();
        async move { m.run(stop).await }
    });
    let scheduler = tokio::spawn({
        let s = Scheduler::new(
            db.clone(),
            SchedulerConfig {
                listen: false,
                ..Default::default()
            },
        );
        let stop = stop.clone();
        async move { s.run(stop).await }
    });

    // Enqueue through the pooler: 300 sql-handler jobs in bulk, one delayed job, one that fails (its
    // retry is promoted by the leader), and a cron task through the admin API.
    let jobs: Vec<NewJob> = (1..=300)
        .map(|n| NewJob::new("ledger").payload(serde_json::json!({ "n": n })))
        .collect();
    pgtide::enqueue_many(&db, &jobs).await.unwrap();
    let delayed = pgtide::enqueue(
        &db,
        &NewJob::new("ledger")
            .payload(serde_json::json!({ "n": 1000 }))
            .run_at(chrono::Utc::now() + chrono::TimeDelta::milliseconds(500)),
    )
    .await
    .unwrap();
    let failing = pgtide::enqueue(
        &db,
        &NewJob::new("fails_once").max_attempts(2).retry(
            pgtide::model::RetryStrategy::Fixed,
            Duration::from_millis(100),
            Duration::from_millis(100),
        ),
    )
    .await
    .unwrap();
    let admin = pgtide::admin::Admin::new(db.clone());
    let task = admin
        .create_task(&pgtide::admin::TaskSpec {
            name: "tick".into(),
            handler: "noop".into(),
            cron: Some("* * * * * *".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    admin.pause_queue("elsewhere").await.unwrap();
    assert!(admin
        .queues()
        .await
        .unwrap()
        .iter()
        .any(|q| q.queue == "elsewhere" && q.paused));

    wait_until(Duration::from_secs(30), "every ledger job to succeed", || async {
        scalar(&t, "select count(*) from pgtide.executions where handler = 'ledger' and status = 'succeeded'").await == 301
    })
    .await;
    wait_until(Duration::from_secs(10), "the failing job to die after its retry", || async {
        scalar(&t, "select count(*) from pgtide.executions where handler = 'fails_once' and status in ('failed', 'dead')").await == 2
    })
    .await;
    wait_until(Duration::from_secs(10), "the cron task to fire twice", || async {
        common::one::<i64>(&t, "select count(*) from pgtide.executions where task_id = $1 and status = 'succeeded'", &[&task]).await >= 2
    })
    .await;

    // No session state on the server side: no advisory locks, no LISTEN (in this test's database:
    // the server is shared with tests that run at the same time).
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pg_locks
              where locktype = 'advisory'
                and database = (select oid from pg_database where datname = current_database())"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pg_stat_activity
              where datname = current_database() and query ilike 'listen%'"
        )
        .await,
        0
    );
    assert_eq!(scalar(&t, "select count(*) from ledger").await, 301);
    assert_eq!(
        scalar(&t, "select count(distinct n) from ledger").await,
        301
    );
    assert_eq!(common::status_of(&t, delayed).await, "succeeded");
    assert_eq!(common::status_of(&t, failing).await, "failed");
    let holder: String = common::one(&t, "select holder from pgtide.leader", &[]).await;
    assert_eq!(holder, "bounced");
    assert!(!worker.worker.is_listening());

    // The CLI in the same mode.
    let out = Command::new(env!("CARGO_BIN_EXE_pgtide"))
        .args(["--no-listen", "queue", "list", "--database-url", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("elsewhere"));

    worker.stop().await;
    stop.cancel();
    maintenance.await.unwrap();
    scheduler.await.unwrap();
    let log = std::fs::read_to_string(bouncer.dir.join("pgbouncer.log")).unwrap_or_default();
    assert!(
        !log.contains("prepared statement"),
        "pgbouncer saw prepared-statement trouble:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_limits_hold_for_poll_only_workers_behind_pgbouncer() {
    let Some((t, bouncer, url)) = bounced_test_db().await else {
        return;
    };
    let db = Database::connect(&url, 4).unwrap().for_transaction_pooler();
    db.client()
        .await
        .unwrap()
        .batch_execute("select pgtide.set_key_limit('shared', 1)")
        .await
        .unwrap();
    let jobs: Vec<NewJob> = (0..30)
        .map(|n| {
            NewJob::new("nap")
                .queue("shared")
                .concurrency_key(["acme", "globex", "initech"][n % 3])
        })
        .collect();
    pgtide::enqueue_many(&db, &jobs).await.unwrap();
    // The most running rows of one key at once, sampled on a direct connection.
    let direct = t.client().await.unwrap();
    let mut workers = Vec::new();
    for _ in 0..2 {
        workers.push(RunningWorker::start(
            &db,
            common::registry(vec![(
                "nap",
                std::sync::Arc::new(common::handlers::Sleeps(Duration::from_millis(20))),
            )]),
            WorkerConfig {
                queues: vec!["shared".into()],
                concurrency: 4,
                listen: false,
                poll_interval: Duration::from_millis(50),
                lease: Duration::from_secs(5),
                ..Default::default()
            },
        ));
    }
    let mut most = 0i64;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let row = direct
            .query_one(
                "select coalesce(max(n), 0),
                        (select count(*) from pgtide.executions where status = 'succeeded')
                   from (select count(*) as n from pgtide.executions
                          where status = 'running' group by concurrency_key) r",
                &[],
            )
            .await
            .unwrap();
        most = most.max(row.get::<_, i64>(0));
        if row.get::<_, i64>(1) == 30 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the 30 jobs did not finish"
        );
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    for worker in workers {
        worker.stop().await;
    }
    assert_eq!(
        most, 1,
        "a cap of 1 per key holds through the pooler, and is reached"
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where attempt = 1 and status = 'succeeded'"
        )
        .await,
        30
    );
    drop(bouncer);
}

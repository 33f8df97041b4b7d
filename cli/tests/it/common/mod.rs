//! Test harness: every test gets a fresh database cloned from a migrated template.
//!
//! The server is `PGTIDE_TEST_DATABASE_URL` (a role that may create databases) when set. Otherwise the
//! harness starts a throwaway cluster of its own in the temp directory with pgtide's embedded-cluster
//! code, shared by all test processes and left running for the next run (fsync off: it holds nothing
//! worth keeping). The template is built once per schema version under an advisory lock, so parallel
//! test processes never race to build it.

#![allow(dead_code)]

pub mod handlers;
pub mod tls;

use pgtide::maintenance::LeaderService;
use std::{
    future::Future,
    sync::{atomic::AtomicUsize, Arc},
    time::{Duration, Instant},
};

use pgtide::{
    embedded::{EmbeddedOptions, EmbeddedPostgres},
    handlers::Registry,
    Database, Worker, WorkerConfig,
};
use tokio::sync::OnceCell;
use tokio_postgres::NoTls;
use tokio_util::sync::CancellationToken;

/// The test server's maintenance database: over the embedded cluster's private socket, and over
/// TCP (with its password) for tests that put a proxy or a pooler in front.
struct Server {
    url: String,
    tcp_url: String,
}

async fn server() -> &'static Server {
    static SERVER: OnceCell<Server> = OnceCell::const_new();
    SERVER
        .get_or_init(|| async {
            if let Ok(url) = std::env::var("PGTIDE_TEST_DATABASE_URL") {
                return Server {
                    tcp_url: url.clone(),
                    url,
                };
            }
            let dir =
                std::env::temp_dir().join(format!("pgtide-test-pg-{}", nix::unistd::getuid()));
            let options = EmbeddedOptions {
                settings: [
                    ("fsync", "off"),
                    ("synchronous_commit", "off"),
                    ("full_page_writes", "off"),
                    ("max_connections", "500"),
                    ("log_min_messages", "fatal"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            };
            let cluster =
                tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&dir, &options))
                    .await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("starting the test cluster: {e}"));
            Server {
                url: cluster.url("postgres"),
                tcp_url: cluster.tcp_url("postgres"),
            }
        })
        .await
}

/// Connection string of the server's maintenance database.
async fn server_url() -> &'static str {
    &server().await.url
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let mut config: url_parts::Url = url_parts::Url::parse(url);
    config.database = database.to_string();
    config.to_string()
}

mod url_parts {
    /// Just enough URL handling to swap the database name of a postgres:// URL.
    pub struct Url {
        prefix: String,
        pub database: String,
        query: String,
    }

    impl Url {
        pub fn parse(url: &str) -> Self {
            let (base, query) = match url.split_once('?') {
                Some((b, q)) => (b, format!("?{q}")),
                None => (url, String::new()),
            };
            let scheme_end = base.find("://").map_or(0, |i| i + 3);
            let (prefix, database) = match base[scheme_end..].find('/') {
                Some(i) => (
                    base[..scheme_end + i].to_string(),
                    base[scheme_end + i + 1..].to_string(),
                ),
                None => (base.to_string(), String::new()),
            };
            Self {
                prefix,
                database,
                query,
            }
        }
    }

    impl std::fmt::Display for Url {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}/{}{}", self.prefix, self.database, self.query)
        }
    }
}

async fn admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(server_url().await, NoTls)
        .await
        .expect("connecting to the test server");
    tokio::spawn(connection);
    client
}

/// The migrated template's name, built on first use.
async fn template() -> &'static str {
    static NAME: OnceCell<String> = OnceCell::const_new();
    NAME.get_or_init(|| async {
        let name = format!("pgtide_tpl_{:016x}", pgtide::migrate::schema_fingerprint());
        let admin = admin().await;
        admin.execute("select pg_advisory_lock(77001)", &[]).await.unwrap();
        let ready: Option<bool> = admin
            .query_opt("select datistemplate from pg_database where datname = $1", &[&name])
            .await
            .unwrap()
            .map(|r| r.get(0));
        if ready != Some(true) {
            if ready.is_some() {
                // A half-built template from a crashed run.
                admin.batch_execute(&format!("drop database \"{name}\" with (force)")).await.unwrap();
            }
            admin.batch_execute(&format!("create database \"{name}\"")).await.unwrap();
            {
                let db = Database::connect(&with_database(server_url().await, &name), 1).unwrap();
                pgtide::migrate(&db).await.expect("migrating the template");
                db.pool().close();
            }
            // The migration connection must be gone before the template can be copied.
            admin
                .batch_execute(&format!(
                    "select pg_terminate_backend(pid) from pg_stat_activity where datname = '{name}';
                     alter database \"{name}\" with is_template true"
                ))
                .await
                .unwrap();
        }
        admin.execute("select pg_advisory_unlock(77001)", &[]).await.unwrap();
        name
    })
    .await
}

/// Taken by the tests that load the machine for a long time (clusters of their own, thousands of
/// jobs, worker processes, timed recoveries), so that they run one at a time, as they did when each
/// had a test binary of its own: side by side they slow each other's timed phases. Lighter tests
/// still run beside them.
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// A fresh database of the current schema, dropped when the value is dropped.
pub struct TestDb {
    /// Connection string of the test database.
    pub url: String,
    /// The same over TCP on 127.0.0.1 (with the password), for a proxy or a pooler in front.
    pub tcp_url: String,
    /// Its name.
    pub name: String,
    /// A pool on it.
    pub db: Database,
}

impl std::ops::Deref for TestDb {
    type Target = Database;
    fn deref(&self) -> &Database {
        &self.db
    }
}

/// Creates a fresh, migrated database for one test.
pub async fn test_db() -> TestDb {
    create_db(template().await).await
}

/// Creates an empty database (no pgtide schema), dropped like [`test_db`]'s: for tests of what
/// `pgtide migrate` builds.
pub async fn empty_db() -> TestDb {
    create_db("template0").await
}

async fn create_db(template: &str) -> TestDb {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "t_{}_{}_{:04x}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        rand::random::<u16>()
    );
    let admin = admin().await;
    let mut tries = 0;
    loop {
        match admin
            .batch_execute(&format!(
                "create database \"{name}\" template \"{template}\""
            ))
            .await
        {
            Ok(()) => break,
            // "source database is being accessed by other users": a template builder's connection
            // is still closing.
            Err(e) if tries < 50 => {
                tries += 1;
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("creating {name}: {e}"),
        }
    }
    let url = with_database(server_url().await, &name);
    let tcp_url = with_database(&server().await.tcp_url, &name);
    let db = Database::connect(&url, 40).unwrap();
    TestDb {
        url,
        tcp_url,
        name,
        db,
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        self.db.pool().close();
        // Drop runs outside async context: use a private runtime on a plain thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let admin = admin().await;
                let _ = admin
                    .batch_execute(&format!("drop database if exists \"{name}\" with (force)"))
                    .await;
            });
        })
        .join();
    }
}

/// Polls `check` every 20 ms until it returns true; panics with `what` after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs a scalar query (`select count(*) ...`) on `db`.
pub async fn scalar(db: &Database, sql: &str) -> i64 {
    db.client()
        .await
        .unwrap()
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

/// A worker running in the background, stopped by [`RunningWorker::stop`].
pub struct RunningWorker {
    pub worker: Worker,
    pub stop: CancellationToken,
    pub task: tokio::task::JoinHandle<pgtide::Result<()>>,
}

impl RunningWorker {
    /// Starts `registry` on `db` with `config`.
    pub fn start(db: &Database, registry: Registry, config: WorkerConfig) -> Self {
        let worker = Worker::builder(db.clone())
            .config(config)
            .registry(registry)
            .build()
            .unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let (worker, stop) = (worker.clone(), stop.clone());
            async move { worker.run(stop).await }
        });
        Self { worker, stop, task }
    }

    /// Signals shutdown and waits for the worker to return.
    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// A quick-test worker configuration: short lease, short poll.
pub fn quick_config(concurrency: usize) -> WorkerConfig {
    WorkerConfig {
        concurrency,
        lease: Duration::from_secs(5),
        poll_interval: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(5),
        ..Default::default()
    }
}

/// Runs the promoter until `db` has no due scheduled rows left (tests drive maintenance by hand).
pub async fn promote(db: &Database) -> i64 {
    pgtide::maintenance::Promoter::new(db.clone(), 1000)
        .run_once()
        .await
        .unwrap()
        .total()
}

/// A registry holding the given handlers (and `noop`).
pub fn registry(handlers: Vec<(&str, Arc<dyn pgtide::Handler>)>) -> Registry {
    let mut registry = Registry::new();
    for (name, handler) in handlers {
        registry.insert(name, handler, None);
    }
    registry
}

/// Runs a query that returns one value.
pub async fn one<T>(
    db: &Database,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> T
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    db.client()
        .await
        .unwrap()
        .query_one(sql, params)
        .await
        .unwrap()
        .get(0)
}

/// The status of execution `id`.
pub async fn status_of(db: &Database, id: i64) -> String {
    one(
        db,
        "select status::text from pgtide.executions where id = $1",
        &[&id],
    )
    .await
}

/// Runs a statement that must fail and returns the server's error message.
pub async fn sql_error(
    db: &Database,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> String {
    let err = db
        .client()
        .await
        .unwrap()
        .query_one(sql, params)
        .await
        .expect_err(sql);
    err.as_db_error()
        .unwrap_or_else(|| panic!("{sql}: not a server error: {err}"))
        .message()
        .to_string()
}

/// `url` with its user (and password) replaced.
pub fn with_user(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}:{password}@{host}")
}

/// A login role that exists until the value is dropped (roles are cluster-wide, so each test makes
/// its own, named after its database).
pub struct TestRole {
    pub name: String,
    pub password: String,
}

impl TestRole {
    /// Creates the role on the test server.
    pub async fn create(name: &str) -> Self {
        let password = format!("pw-{:08x}", rand::random::<u32>());
        admin()
            .await
            .batch_execute(&format!(
                "drop role if exists \"{name}\"; create role \"{name}\" login password '{password}'"
            ))
            .await
            .unwrap();
        Self {
            name: name.to_string(),
            password,
        }
    }

    /// Creates a role named for this process, a random number and `kind`, so parallel tests never
    /// share one.
    pub async fn unique(kind: &str) -> Self {
        Self::create(&format!(
            "pgtide_test_{}_{:06x}_{kind}",
            std::process::id(),
            rand::random::<u32>() & 0xff_ffff
        ))
        .await
    }

    /// `db`'s URL, logging in as this role.
    pub fn url(&self, db: &TestDb) -> String {
        with_user(&db.url, &self.name, &self.password)
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                // Its privileges live in the test database, dropped before or after; retry briefly.
                for _ in 0..20 {
                    if admin()
                        .await
                        .batch_execute(&format!("drop role if exists \"{name}\""))
                        .await
                        .is_ok()
                    {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        })
        .join();
    }
}

/// The first column of every row of `sql`.
pub async fn column<T>(db: &Database, sql: &str) -> Vec<T>
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    db.client()
        .await
        .unwrap()
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Sends `signal` to a child process and waits for it to exit.
pub async fn signal_and_wait(
    child: std::process::Child,
    signal: nix::sys::signal::Signal,
) -> std::process::Output {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap()
}

/// The password of a `postgres://user:password@host/db` URL, if it has one.
pub fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    userinfo.split_once(':').map(|(_, password)| password)
}

/// The `host:port` of a `postgres://user@host:port/db` URL (to put a proxy or a pooler in front).
pub fn server_addr(url: &str) -> String {
    url.split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a postgres://user@host:port/db URL")
        .to_string()
}

/// A plain connection outside any pool, driven in the background.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A connection outside any pool through pgtide's own connector (so the URL's TLS parameters apply),
/// driven in the background.
pub async fn connect_tls(url: &str) -> tokio_postgres::Client {
    let db = Database::connect(url, 1).unwrap();
    let (client, mut messages) = db
        .dedicated()
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    tokio::spawn(async move { while messages.recv().await.is_some() {} });
    client
}

/// A throwaway cluster of the test's own in the temp directory, for tests that restart the server or
/// need server settings of their own (the shared cluster must not be disturbed). Migrated, with
/// `settings` on top of fsync off. Returns the cluster, its `postgres` database URL and its directory.
pub async fn private_cluster(
    name: &str,
    settings: &[(&str, &str)],
) -> (EmbeddedPostgres, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("pgtide-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = EmbeddedOptions {
        settings: [("fsync", "off")]
            .iter()
            .chain(settings)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let cluster = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || EmbeddedPostgres::start(&dir, &options)
    })
    .await
    .unwrap()
    .expect("starting a private cluster");
    let url = cluster.url("postgres");
    let db = Database::connect(&url, 2).unwrap();
    pgtide::migrate(&db).await.unwrap();
    db.pool().close();
    (cluster, url, dir)
}

/// A free TCP port on 127.0.0.1 (for a proxy, a pooler, or a port where nothing listens).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain connection to `url` driven in the background, or `None` while the server is down.
pub async fn try_connect(url: &str) -> Option<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.ok()?;
    tokio::spawn(connection);
    Some(client)
}

/// A `pgtide` child process and the file its stderr goes to; killed if the test ends early.
pub struct Process {
    pub child: std::process::Child,
    pub log: std::path::PathBuf,
}

impl Process {
    /// Starts `pgtide` with `args`, logging at info level to `log`.
    pub fn start(args: &[&str], log: std::path::PathBuf) -> Self {
        Self::start_with_env(args, &[], log)
    }

    /// Like [`Process::start`], with `env` added to the child's environment.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)], log: std::path::PathBuf) -> Self {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_pgtide"))
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self { child, log }
    }

    /// Starts `pgtide worker --no-maintenance` on `url` with the config file `config`.
    pub fn worker(url: &str, config: &std::path::Path, log: std::path::PathBuf) -> Self {
        Self::start(
            &[
                "worker",
                "--no-maintenance",
                "--database-url",
                url,
                "--config",
                config.to_str().unwrap(),
            ],
            log,
        )
    }

    /// What it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits; returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        self.child.wait().unwrap().success()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many migrations `sql/migrations/` holds: the baseline and every delta after it.
pub fn migration_count() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/migrations"))
        .unwrap()
        .count()
}

/// Stops a private cluster and removes the test's directories.
pub async fn stop_cluster(cluster: EmbeddedPostgres, dirs: &[&std::path::Path]) {
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap()
        .unwrap();
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Asserts that every job of the `ledger` sql handler succeeded and left exactly one row in table
/// `ledger`; returns how many attempts failed (were cut and retried) on the way.
pub async fn assert_ledger_exactly_once(client: &tokio_postgres::Client, jobs: i64) -> i64 {
    let count = |sql: &'static str| async move {
        client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0)
    };
    assert_eq!(count("select count(distinct n) from ledger").await, jobs);
    assert_eq!(count("select count(*) from ledger").await, jobs);
    assert_eq!(
        count(
            "select count(*) from pgtide.executions where handler = 'ledger' and status = 'succeeded'"
        )
        .await,
        jobs
    );
    count("select count(*) from pgtide.executions where handler = 'ledger' and status = 'failed'")
        .await
}

/// Asserts that every slot of the every-second cron task `task` from its first to its last fired
/// exactly once; returns how many slots that is.
pub async fn assert_every_second_fired_once(client: &tokio_postgres::Client, task: &str) -> i64 {
    let row = client
        .query_one(
            "select count(*), count(distinct scheduled_for),
                    coalesce((extract(epoch from max(scheduled_for) - min(scheduled_for)))::bigint + 1, 0)
               from pgtide.executions e join pgtide.tasks t on t.id = e.task_id
              where t.name = $1",
            &[&task],
        )
        .await
        .unwrap();
    let (slots, distinct, span): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(slots, distinct, "a cron slot fired twice");
    assert_eq!(distinct, span, "a cron slot is missing");
    span
}

/// Creates table `ledger` and `jobs` jobs of the `ledger` sql handler that become due over
/// `spread_secs` seconds from one second on (the crash and failover tests).
pub async fn ledger_jobs(client: &tokio_postgres::Client, jobs: i64, spread_secs: i64) {
    client
        .batch_execute(&format!(
            "create table ledger (n int not null);
             insert into pgtide.executions (handler, payload, status, visible_at)
             select 'ledger', jsonb_build_object('n', n), 'scheduled',
                    now() + interval '1 s' + (n % ({spread_secs} * 10)) * interval '100 ms'
               from generate_series(1, {jobs}) n;"
        ))
        .await
        .unwrap();
}

/// A pgtide.toml in `dir` for the crash and failover tests: short leases and leader TTL, and the
/// `ledger` sql handler, whose effect is exactly once.
pub fn ledger_config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("pgtide.toml");
    std::fs::write(
        &path,
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
    path
}

/// When the server last logged "ready to accept connections" (after a start, a crash recovery or a
/// promotion; a standby's "ready to accept read-only connections" does not count). Needs
/// `log_timezone = UTC`.
pub fn ready_at(log: &std::path::Path) -> chrono::DateTime<chrono::Utc> {
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

/// Whether an external tool a test needs is there. Outside CI a missing tool skips the test with
/// a printed reason (and the package line that installs it); with `PGTIDE_REQUIRE_TOOLS=1` (which
/// `.ci/run` sets after installing everything) it is a failure, so CI can never skip silently.
pub fn tool_available(test: &str, tool: &str, present: bool, install: &str) -> bool {
    if present {
        return true;
    }
    let required = ["PGTIDE_REQUIRE_TOOLS", "PGTIDE_REQUIRE_BROWSER"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| v != "0" && !v.is_empty()));
    assert!(
        !required,
        "{test}: {tool} is missing, and PGTIDE_REQUIRE_TOOLS is set ({install})"
    );
    println!("SKIPPED {test}: {tool} is missing ({install})");
    eprintln!("SKIPPED {test}: {tool} is missing ({install})");
    false
}

/// Records a migration one version newer than this binary knows, as a newer pgtide would have;
/// returns that version.
pub async fn record_newer_migration(db: &Database) -> i32 {
    let newer = pgtide::migrate::latest_version() + 1;
    db.client()
        .await
        .unwrap()
        .batch_execute(&format!(
            "insert into pgtide.refinery_schema_history (version, name, applied_on, checksum)
             values ({newer}, 'from_the_future', '2030-01-01T00:00:00Z', '0')"
        ))
        .await
        .unwrap();
    newer
}

//! The `pgtide` binary as a user runs it: flags and their env equivalents, a config file with
//! handlers, SIGTERM, and clear errors for bad configuration.

use crate::common;

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{scalar, test_db, wait_until};
use nix::sys::signal::Signal;
use pgtide::NewJob;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_pgtide");

fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("pgtide-cli-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_runs_configured_handlers_and_stops_on_sigterm() {
    let t = test_db().await;
    t.client()
        .await
        .unwrap()
        .batch_execute("create table ledger (n int)")
        .await
        .unwrap();
    let config = write_config(
        &t.name,
        r#"
        [worker]
        queues = ["ignored-by-flag"]
        lease = "10s"
        [handlers.pause]
        kind = "shell"
        command = ["sleep", "1"]
        [handlers.record]
        kind = "sql"
        statement = "insert into ledger (n) values (($1->>'n')::int)"
        "#,
    );
    let jobs = vec![
        NewJob::new("pause")
            .queue("mail")
            .idempotency_key("pause-1"),
        NewJob::new("pause").idempotency_key("pause-2"),
        NewJob::new("record")
            .payload(json!({"n": 7}))
            .idempotency_key("record"),
    ];
    pgtide::enqueue_many(&t, &jobs).await.unwrap();
    let child = Command::new(BIN)
        .args([
            "worker",
            "--queues",
            "default,mail",
            "--concurrency",
            "4",
            "--shutdown-grace",
            "20s",
        ])
        .env("DATABASE_URL", &t.url)
        .env("PGTIDE_CONFIG", &config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(
        Duration::from_secs(20),
        "both shell jobs to run and the sql job to finish",
        || async {
            scalar(
                &t,
                "select count(*) from pgtide.executions where status = 'running'",
            )
            .await
                == 2
                && scalar(&t, "select count(*) from ledger").await == 1
        },
    )
    .await;
    let signalled = Instant::now();
    let output = common::signal_and_wait(child, Signal::SIGTERM).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}: {stderr}",
        output.status
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(15),
        "it left after finishing, not after the grace"
    );
    assert!(stderr.contains("shutdown requested"), "{stderr}");
    // The held shell jobs finished during the grace period.
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'succeeded'"
        )
        .await,
        3
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where queue = 'mail' and status = 'succeeded'"
        )
        .await,
        1
    );
    assert_eq!(scalar(&t, "select count(*) from pgtide.workers").await, 0);
    let _ = std::fs::remove_file(config);
}

#[tokio::test]
async fn migrate_reports_and_bad_setups_fail_clearly() {
    let t = test_db().await;
    let out = Command::new(BIN)
        .args(["migrate", "--database-url", &t.url])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "schema is up to date"
    );

    let out = Command::new(BIN)
        .arg("worker")
        .env_remove("DATABASE_URL")
        .env_remove("PGTIDE_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid database_url") && stderr.contains("--database-url"),
        "{stderr}"
    );

    let config = write_config("bad", "[worker]\nconcurrency = 4\nlease = \"forever\"\n");
    let out = Command::new(BIN)
        .args(["worker", "--database-url", &t.url, "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(config.to_str().unwrap()) && stderr.contains("lease"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        stderr.lines().filter(|l| !l.trim().is_empty()).count()
    );
    let _ = std::fs::remove_file(&config);

    let config = write_config(
        "nohandler",
        "[handlers.x]\nkind = \"http\"\nurl = \"https://h/${PGTIDE_SURELY_UNSET}\"\n",
    );
    let out = Command::new(BIN)
        .args(["worker", "--database-url", &t.url, "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("handlers.x.url") && stderr.contains("PGTIDE_SURELY_UNSET is not set"),
        "{stderr}"
    );
    // Nothing ran: no worker registered.
    assert_eq!(scalar(&t, "select count(*) from pgtide.workers").await, 0);
    let _ = std::fs::remove_file(&config);
}

#[tokio::test]
async fn config_files_with_unknown_keys_missing_fields_or_bad_durations_fail_at_startup() {
    let t = test_db().await;
    // (file text, the key the error must name, the reason it must give)
    let cases = [
        ("[worker]\nconcurency = 4\n", "concurency", "unknown field"),
        (
            "[maintenance]\nretention = \"2 fortnights\"\n",
            "retention",
            "expected a duration",
        ),
        (
            "[worker]\npoll_interval = \"0s\"\n",
            "worker.poll_interval",
            "expected a duration > 0",
        ),
        (
            "[handlers.report]\nkind = \"sql\"\n",
            "statement",
            "missing field",
        ),
        (
            "[handlers.report]\nkind = \"shell\"\ncommand = []\n",
            "handlers.report.command",
            "with a program",
        ),
        (
            "[handlers.report]\nkind = \"smtp\"\n",
            "smtp",
            "unknown variant",
        ),
        (
            "[handlers.report]\nkind = \"shell\"\ncommand = [\"x\"]\nshell = true\n",
            "shell",
            "unknown field",
        ),
    ];
    for (i, (text, key, reason)) in cases.iter().enumerate() {
        let config = write_config(&format!("case{i}"), text);
        let out = Command::new(BIN)
            .args(["worker", "--database-url", &t.url, "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "case {i} started: {text}");
        for needle in [config.to_str().unwrap(), key, reason] {
            assert!(
                stderr.contains(needle),
                "case {i}: {needle:?} missing from: {stderr}"
            );
        }
        let _ = std::fs::remove_file(&config);
    }
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.workers").await,
        0,
        "a worker started"
    );
}

/// A worker that starts while its database is down waits for it with a warning per attempt (and
/// stops cleanly on SIGTERM meanwhile); one whose database refuses it for good stops at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_waits_for_a_database_that_is_down_but_not_for_one_that_refuses_it() {
    let down = format!(
        "postgres://app:s3cret@127.0.0.1:{}/app",
        common::free_port()
    );
    let log = std::env::temp_dir().join(format!("pgtide-cli-wait-{}.log", std::process::id()));
    let mut waiting = common::Process::start(&["worker", "--database-url", &down], log.clone());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        waiting.child.try_wait().unwrap().is_none(),
        "the worker exited instead of waiting:\n{}",
        waiting.log_text()
    );
    let text = waiting.log_text();
    assert!(
        text.matches("database not available yet").count() >= 2,
        "{text}"
    );
    assert!(text.contains("Connection refused"), "{text}");
    assert!(!text.contains("s3cret"), "the password leaked: {text}");
    assert!(waiting.terminate(), "SIGTERM while waiting is a clean stop");
    let _ = std::fs::remove_file(&log);

    let t = test_db().await;
    let missing = common::with_database(&t.url, "no_such_database");
    let started = Instant::now();
    let output = Command::new(BIN)
        .args(["worker", "--database-url", &missing])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(started.elapsed() < Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("database \"no_such_database\" does not exist"),
        "{stderr}"
    );
}

/// The LISTEN backends of database `name` (the worker's and the scheduler's notification
/// connections).
async fn listen_backends(t: &common::TestDb) -> i64 {
    scalar(
        t,
        &format!(
            "select count(*) from pg_stat_activity where datname = '{}' and query ilike 'listen%'",
            t.name
        ),
    )
    .await
}

/// Operators' conventions, through the binary: boolean variables take 1/0, true/false and yes/no;
/// `[worker] listen = false` is poll-only mode for the whole process, like --no-listen; every runtime
/// flag has a variable; `database_url` in the file takes `${VAR}`; `--log-format json` writes one
/// JSON object per line, and text logs carry no colour codes when stderr is not a terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_come_from_the_environment_and_the_file_means_what_the_flag_means() {
    let t = test_db().await;
    let dir = std::env::temp_dir().join(format!("pgtide-cli-env-{}", t.name));
    std::fs::create_dir_all(&dir).unwrap();

    // Booleans in every spelling: the listening worker has a LISTEN backend, the others none.
    for (value, listens) in [("0", true), ("1", false), ("yes", false), ("false", true)] {
        let mut worker = common::Process::start_with_env(
            &["worker", "--database-url", &t.url, "--no-maintenance"],
            &[("PGTIDE_NO_LISTEN", value)],
            dir.join(format!("no-listen-{value}.log")),
        );
        wait_until(Duration::from_secs(10), "the worker registered", || async {
            scalar(&t, "select count(*) from pgtide.workers").await >= 1
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            listen_backends(&t).await > 0,
            listens,
            "PGTIDE_NO_LISTEN={value}"
        );
        assert!(worker.terminate());
        wait_until(Duration::from_secs(10), "the worker gone", || async {
            scalar(&t, "select count(*) from pgtide.workers").await == 0
        })
        .await;
    }

    // `[worker] listen = false`, the runtime variables, and ${VAR} in database_url.
    let config = dir.join("pgtide.toml");
    std::fs::write(
        &config,
        "database_url = \"${PGTIDE_TEST_URL}\"\n[worker]\nlisten = false\n",
    )
    .unwrap();
    let log = dir.join("run.log");
    let mut run = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("DATABASE_URL")
        .env("PGTIDE_TEST_URL", &t.url)
        .env("PGTIDE_QUEUES", "mail,reports")
        .env("PGTIDE_CONCURRENCY", "3")
        .env("PGTIDE_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(10), "the worker registered", || async {
        scalar(&t, "select count(*) from pgtide.workers").await == 1
    })
    .await;
    let (queues, concurrency): (Vec<String>, i32) = {
        let row = t
            .client()
            .await
            .unwrap()
            .query_one("select queues, concurrency from pgtide.workers", &[])
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(queues, vec!["mail".to_string(), "reports".to_string()]);
    assert_eq!(concurrency, 3);
    let id = pgtide::enqueue(&t, &NewJob::new("noop").queue("mail"))
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(10),
        "the job done by polling",
        || async { common::status_of(&t, id).await == "succeeded" },
    )
    .await;
    assert_eq!(
        listen_backends(&t).await,
        0,
        "listen = false left a LISTEN connection (worker or scheduler)"
    );
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(run.id() as i32), Signal::SIGTERM).unwrap();
    assert!(run.wait().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines = 0;
    for line in text.lines() {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: not JSON: {line}"));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(event.get(key).is_some(), "no {key} in {line}");
        }
        lines += 1;
    }
    assert!(
        text.contains("\"message\":\"worker started\"") && text.contains("\"concurrency\":3"),
        "{text}"
    );
    assert!(lines >= 3, "{text}");

    // Text logs to a file: no ANSI colour codes.
    let plain = dir.join("plain.log");
    let worker_log = {
        let mut worker = Command::new(BIN)
            .args(["worker", "--database-url", &t.url])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&plain).unwrap())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(worker.id() as i32),
            Signal::SIGTERM,
        )
        .unwrap();
        worker.wait().unwrap();
        std::fs::read_to_string(&plain).unwrap()
    };
    assert!(worker_log.contains("worker started"), "{worker_log}");
    assert!(
        !worker_log.contains('\u{1b}'),
        "ANSI codes in a file: {worker_log:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The probes, through the binary: `/livez` answers without the database, `/readyz` checks the
/// database, the schema and the worker, and a lost LISTEN connection (polling still works) keeps a
/// process ready. `pgtide scheduler --http` serves them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_follow_kubernetes_conventions() {
    let t = test_db().await;
    let dir = std::env::temp_dir().join(format!("pgtide-cli-probes-{}", t.name));
    std::fs::create_dir_all(&dir).unwrap();
    let http = common::free_port();
    let mut run = common::Process::start(
        &[
            "run",
            "--database-url",
            &t.url,
            "--http",
            &format!("127.0.0.1:{http}"),
        ],
        dir.join("run.log"),
    );
    let client = reqwest::Client::new();
    let get = |path: &'static str, port: u16| {
        let client = client.clone();
        async move {
            let answer = client
                .get(format!("http://127.0.0.1:{port}{path}"))
                .send()
                .await
                .ok()?;
            let status = answer.status().as_u16();
            Some((status, answer.json::<serde_json::Value>().await.ok()?))
        }
    };
    wait_until(Duration::from_secs(20), "/readyz ready", || async {
        matches!(get("/readyz", http).await, Some((200, _)))
    })
    .await;
    let (_, ready) = get("/readyz", http).await.unwrap();
    assert_eq!(
        ready,
        json!({"status": "ready", "database": "ok", "schema": "current", "worker": "running"})
    );
    let probe = Command::new(BIN)
        .args(["probe", &format!("127.0.0.1:{http}")])
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    assert_eq!(
        get("/livez", http).await.unwrap(),
        (200, json!({"status": "ok"}))
    );

    // The LISTEN connection goes away: still ready (the worker polls), while /healthz says so.
    let listener = format!(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity
          where datname = '{}' and query ilike 'listen%'",
        t.name
    );
    assert!(scalar(&t, &listener).await >= 1);
    let (status, ready) = get("/readyz", http).await.unwrap();
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")));

    // A schema this binary does not know: not ready, and it says why; alive all the same.
    let newer = common::record_newer_migration(&t).await;
    let (status, ready) = get("/readyz", http).await.unwrap();
    assert_eq!(status, 503);
    assert_eq!(ready["status"], "not ready");
    // `pgtide probe` (a HEALTHCHECK without curl) fails with the reason.
    let probe = Command::new(BIN)
        .args(["probe", &format!("127.0.0.1:{http}")])
        .output()
        .unwrap();
    assert!(!probe.status.success());
    assert!(
        String::from_utf8_lossy(&probe.stderr).contains("503 Service Unavailable"),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    assert!(
        ready["schema"]
            .as_str()
            .unwrap()
            .contains(&format!("invalid schema version \"{newer}\"")),
        "{ready}"
    );
    assert_eq!(get("/livez", http).await.unwrap().0, 200);
    t.client()
        .await
        .unwrap()
        .batch_execute(&format!(
            "delete from pgtide.refinery_schema_history where version = {newer}"
        ))
        .await
        .unwrap();
    assert!(run.terminate());

    // The scheduler alone serves the probes (and metrics) as well.
    let http = common::free_port();
    let mut scheduler = common::Process::start(
        &[
            "scheduler",
            "--database-url",
            &t.url,
            "--http",
            &format!("127.0.0.1:{http}"),
        ],
        dir.join("scheduler.log"),
    );
    wait_until(
        Duration::from_secs(20),
        "the scheduler's /readyz",
        || async { matches!(get("/readyz", http).await, Some((200, _))) },
    )
    .await;
    assert_eq!(
        get("/readyz", http).await.unwrap().1,
        json!({"status": "ready", "database": "ok", "schema": "current", "worker": "no worker in this process"})
    );
    assert!(scheduler.terminate());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The README's "Your first own job", line by line: its pgtide.toml, `pgtide run` with it, and its
/// SQL, whose outcome is what the README shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_first_own_job_works() {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("## Your first own job")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README has a first-own-job section");
    let block = |lang: &str| {
        section
            .split(&format!("```{lang}\n"))
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap_or_else(|| panic!("no {lang} block in the section"))
            .to_string()
    };
    let (toml, sql) = (block("toml"), block("sql"));
    let t = test_db().await;
    let config = write_config(&format!("{}-first-job", t.name), &toml);
    let mut run = common::Process::start(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--database-url",
            &t.url,
        ],
        std::env::temp_dir().join(format!("pgtide-first-job-{}.log", t.name)),
    );
    let client = t.client().await.unwrap();
    let mut statements = sql.lines().filter(|l| l.starts_with("select"));
    let enqueue = statements.next().expect("the enqueue");
    client.batch_execute(enqueue).await.unwrap();
    wait_until(Duration::from_secs(20), "the job to finish", || async {
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'succeeded'",
        )
        .await
            == 1
    })
    .await;
    // Read back as psql does: in text.
    let read = statements.next().expect("the read-back");
    let row = client
        .simple_query(read)
        .await
        .unwrap()
        .into_iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .expect("a row");
    let (status, result) = (
        row.get(0).unwrap().to_string(),
        row.get(1).unwrap().to_string(),
    );
    // The README's comment shows psql's rendering of the row.
    let shown = sql
        .lines()
        .find(|l| l.starts_with("-- succeeded"))
        .expect("the README shows the outcome");
    assert_eq!(status, "succeeded");
    assert!(
        shown.ends_with(&format!("| {result}")),
        "the README shows {shown:?}, the row has {result}"
    );
    assert!(run.terminate());
}

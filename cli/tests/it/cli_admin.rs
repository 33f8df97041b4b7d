//! Every admin subcommand of the `pgtide` binary, run as a real process against a real database:
//! the rows it changes, its output (tables and --json), and one-line errors with a non-zero exit.

use crate::common;

use std::{
    process::{Command, Output, Stdio},
    time::Duration,
};

use common::{one, scalar, test_db, TestDb};
use nix::sys::signal::Signal;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pgtide");

fn pgtide(t: &TestDb, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", &t.url)
        .env_remove("PGTIDE_CONFIG")
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

/// Runs a command that must succeed; returns its stdout.
async fn ok(t: &TestDb, args: &[&str]) -> String {
    let out = tokio::task::block_in_place(|| pgtide(t, args));
    assert!(
        out.status.success(),
        "pgtide {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail; returns its stderr, checked to be one line.
async fn fails(t: &TestDb, args: &[&str]) -> String {
    let out = tokio::task::block_in_place(|| pgtide(t, args));
    assert!(!out.status.success(), "pgtide {args:?} succeeded");
    assert!(out.stdout.is_empty(), "errors go to stderr only");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let first = stderr.lines().next().unwrap_or_default().to_string();
    assert!(first.starts_with("error: "), "{stderr}");
    first
}

/// Runs a command that prints an id.
async fn printed_id(t: &TestDb, args: &[&str]) -> i64 {
    ok(t, args).await.trim().parse().unwrap()
}

async fn json(t: &TestDb, args: &[&str]) -> Value {
    serde_json::from_str(&ok(t, args).await).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_subcommands_manage_tasks_through_the_sql_functions() {
    let t = test_db().await;
    let out = ok(
        &t,
        &[
            "task",
            "add",
            "report",
            "noop",
            "--cron",
            "30 2 * * *",
            "--tz",
            "Europe/Berlin",
            "--payload",
            r#"{"fast":true}"#,
            "--queue",
            "reports",
            "--max-attempts",
            "3",
            "--retry-base",
            "30s",
            "--timeout",
            "10m",
            "--overlap",
            "skip",
            "--tag",
            "billing",
        ],
    )
    .await;
    assert!(out.starts_with("created task \"report\""), "{out}");
    let row = t
        .client()
        .await
        .unwrap()
        .query_one(
            "select cron, timezone, payload, queue, max_attempts, retry_base = interval '30s',
                    timeout = interval '10m', overlap, tags
               from pgtide.tasks where name = 'report'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>("cron"), "30 2 * * *");
    assert_eq!(row.get::<_, String>("timezone"), "Europe/Berlin");
    assert_eq!(
        row.get::<_, Value>("payload"),
        serde_json::json!({"fast": true})
    );
    assert_eq!(row.get::<_, String>("queue"), "reports");
    assert_eq!(row.get::<_, i32>("max_attempts"), 3);
    assert!(row.get::<_, bool>(5) && row.get::<_, bool>(6));
    assert_eq!(row.get::<_, String>("overlap"), "skip");
    assert_eq!(row.get::<_, Vec<String>>("tags"), vec!["billing"]);
    ok(&t, &["task", "add", "hourly", "noop", "--every", "1h30m"]).await;
    ok(&t, &["task", "add", "once", "noop", "--at", "now+10m"]).await;
    assert!(
        one::<bool>(
            &t,
            "select run_at between now() + interval '9 minutes' and now() + interval '11 minutes'
               from pgtide.tasks where name = 'once'",
            &[]
        )
        .await
    );

    let table = ok(&t, &["task", "list"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("name") && lines[0].contains("next_run_at"),
        "{table}"
    );
    assert_eq!(lines.len(), 4, "{table}");
    let listed = json(&t, &["task", "list", "--json"]).await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hourly", "once", "report"]);

    let shown = ok(&t, &["task", "show", "report"]).await;
    assert!(
        shown.contains("Europe/Berlin") && shown.contains(r#"{"fast":true}"#),
        "{shown}"
    );
    assert_eq!(
        json(&t, &["task", "show", "report", "--json"]).await["queue"],
        "reports"
    );

    assert_eq!(
        ok(&t, &["task", "pause", "report"]).await.trim(),
        "paused task \"report\""
    );
    assert_eq!(
        one::<String>(
            &t,
            "select status from pgtide.tasks where name = 'report'",
            &[]
        )
        .await,
        "paused"
    );
    ok(&t, &["task", "resume", "report"]).await;
    assert_eq!(
        one::<String>(
            &t,
            "select status from pgtide.tasks where name = 'report'",
            &[]
        )
        .await,
        "active"
    );
    let out = ok(&t, &["task", "trigger", "report", "--key", "deploy-7"]).await;
    let id: i64 = out.trim().rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(
        one::<String>(
            &t,
            "select idempotency_key from pgtide.executions where id = $1",
            &[&id]
        )
        .await,
        "deploy-7"
    );
    let history = json(&t, &["task", "history", "report", "--json"]).await;
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!(history[0]["id"], id);
    let history = ok(&t, &["task", "history", "report"]).await;
    assert_eq!(history.lines().count(), 2, "{history}");
    assert!(
        history.lines().nth(1).unwrap().starts_with(&id.to_string()),
        "{history}"
    );

    let next = ok(&t, &["task", "next", "report", "-n", "3"]).await;
    assert_eq!(next.lines().count(), 3, "{next}");
    assert!(
        next.contains("02:30:00 CET") || next.contains("02:30:00 CEST"),
        "{next}"
    );
    let next = json(&t, &["task", "next", "report", "-n", "2", "--json"]).await;
    assert_eq!(next["slots"].as_array().unwrap().len(), 2);

    ok(&t, &["task", "rm", "hourly"]).await;
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.tasks where name = 'hourly'"
        )
        .await,
        0
    );

    // Every change is audited with the cli surface.
    let actions: Vec<String> = common::column(
        &t,
        "select action from pgtide.audit_log where surface = 'cli' order by id",
    )
    .await;
    assert_eq!(
        actions,
        [
            "task.create",
            "task.create",
            "task.create",
            "task.pause",
            "task.resume",
            "task.trigger",
            "task.delete"
        ]
    );

    // Errors: one line on stderr, a non-zero exit, nothing written.
    let before = scalar(&t, "select count(*) from pgtide.audit_log").await;
    let e = fails(
        &t,
        &[
            "task",
            "add",
            "bad",
            "noop",
            "--every",
            "1h",
            "--tz",
            "Mars/Base",
        ],
    )
    .await;
    assert!(e.contains("invalid timezone 'Mars/Base'"), "{e}");
    let e = fails(&t, &["task", "add", "bad", "noop", "--cron", "* *"]).await;
    assert!(e.contains("invalid cron '* *'"), "{e}");
    // A field out of range: named, with what it holds and what it accepts, on one line.
    let e = fails(&t, &["task", "add", "bad", "noop", "--cron", "61 * * * *"]).await;
    assert!(
        e.contains("invalid cron '61 * * * *': expected the minute field to be valid: it must be 0-59, but it is \"61\""),
        "{e}"
    );
    let e = fails(&t, &["task", "add", "bad", "noop", "--every", "soon"]).await;
    assert!(e.contains("soon"), "{e}");
    let e = fails(&t, &["task", "add", "bad", "noop", "--at", "tomorrow"]).await;
    assert!(e.contains("RFC 3339"), "{e}");
    let e = fails(&t, &["task", "add", "bad", "noop"]).await;
    assert!(e.contains("--cron"), "{e}");
    let e = fails(&t, &["task", "add", "report", "noop", "--every", "1h"]).await;
    assert!(e.contains("already exists"), "{e}");
    let e = fails(&t, &["task", "pause", "nope"]).await;
    assert!(
        e.contains("invalid name 'nope': expected the name of an existing task"),
        "{e}"
    );
    for command in [
        ["task", "show", "nope"],
        ["task", "history", "nope"],
        ["task", "rm", "nope"],
        ["task", "next", "nope"],
    ] {
        let e = fails(&t, &command).await;
        assert!(e.contains("nope"), "{command:?}: {e}");
    }
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.audit_log").await,
        before
    );
    assert_eq!(scalar(&t, "select count(*) from pgtide.tasks").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_jobs_dlq_and_queue_subcommands() {
    let t = test_db().await;
    let id = printed_id(
        &t,
        &[
            "enqueue",
            "mail",
            "--payload",
            r#"{"to":"a@b.c"}"#,
            "--queue",
            "mail",
            "--key",
            "order-9",
            "--priority",
            "-3",
            "--max-attempts",
            "2",
        ],
    )
    .await;
    let again = printed_id(&t, &["enqueue", "mail", "--key", "order-9"]).await;
    assert_eq!(id, again, "a known key returns the existing job");
    let row = t
        .client()
        .await
        .unwrap()
        .query_one(
            "select queue, priority, max_attempts, payload, status::text from pgtide.executions where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "mail");
    assert_eq!(row.get::<_, i16>(1), -3);
    assert_eq!(row.get::<_, i32>(2), 2);
    assert_eq!(row.get::<_, Value>(3), serde_json::json!({"to": "a@b.c"}));
    assert_eq!(row.get::<_, String>(4), "queued");
    let later: i64 = printed_id(&t, &["enqueue", "report", "--in", "5m"]).await;
    let at: i64 = printed_id(&t, &["enqueue", "report", "--at", "2030-01-01T00:00:00Z"]).await;
    assert!(
        one::<bool>(
            &t,
            "select bool_and(status = 'scheduled') and min(visible_at) > now() + interval '4 minutes'
               from pgtide.executions where id = any($1)",
            &[&vec![later, at]]
        )
        .await
    );
    let e = fails(&t, &["enqueue", "x", "--payload", "{not json"]).await;
    assert!(e.contains("invalid JSON"), "{e}");
    let e = fails(&t, &["enqueue", "x", "--max-attempts", "0"]).await;
    assert!(e.contains("max_attempts"), "{e}");
    let e = fails(&t, &["enqueue", "x", "--in", "5m", "--at", "now"]).await;
    assert!(e.contains("--in") || e.contains("--at"), "{e}");

    // jobs list with filters, as a table and as JSON.
    let table = ok(&t, &["jobs", "list"]).await;
    assert_eq!(table.lines().count(), 4, "{table}");
    let mail = json(&t, &["jobs", "list", "--queue", "mail", "--json"]).await;
    assert_eq!(mail.as_array().unwrap().len(), 1);
    assert!(mail[0].get("payload").is_none());
    let scheduled = json(
        &t,
        &[
            "jobs",
            "list",
            "--status",
            "scheduled",
            "--handler",
            "report",
            "--limit",
            "1",
            "--json",
        ],
    )
    .await;
    assert_eq!(scheduled.as_array().unwrap().len(), 1);
    let e = fails(&t, &["jobs", "list", "--status", "lost"]).await;
    assert!(e.contains("invalid status"), "{e}");
    let e = fails(&t, &["jobs", "list", "--limit", "0"]).await;
    assert!(e.contains("invalid limit \"0\""), "{e}");

    // A dead job: shown with its chain, requeued alone and in bulk.
    t.client()
        .await
        .unwrap()
        .batch_execute(
            "update pgtide.executions set status = 'running', worker_id = 'w', lease_until = now() + interval '1 minute'
              where idempotency_key = 'order-9';
             select * from pgtide.fail_attempts(
                 (select array_agg(id) from pgtide.executions where idempotency_key = 'order-9'),
                 '{1}', '{smtp said no}', '{false}', 'w');
             update pgtide.executions set status = 'running', worker_id = 'w', lease_until = now() + interval '1 minute',
                    visible_at = now() where idempotency_key = 'order-9#2';
             select * from pgtide.fail_attempts(
                 (select array_agg(id) from pgtide.executions where idempotency_key = 'order-9#2'),
                 '{2}', '{smtp said no again}', '{false}', 'w');
             insert into pgtide.executions (handler, queue, status, idempotency_key, error, finished_at) values
                 ('report', 'default', 'dead', 'r-dead-1', 'disk full', now()),
                 ('report', 'default', 'dead', 'r-dead-2', 'disk full', now());",
        )
        .await
        .unwrap();
    let dead_id: i64 = one(
        &t,
        "select id from pgtide.executions where idempotency_key = 'order-9#2'",
        &[],
    )
    .await;
    let shown = ok(&t, &["jobs", "show", &dead_id.to_string()]).await;
    assert!(shown.contains("retry chain (2 attempts)"), "{shown}");
    assert!(
        shown.contains("smtp said no again") && shown.contains(r#"{"to":"a@b.c"}"#),
        "{shown}"
    );
    let detail = json(&t, &["jobs", "show", &id.to_string(), "--json"]).await;
    assert_eq!(
        detail["chain"].as_array().unwrap().len(),
        2,
        "the chain from the first attempt too"
    );
    assert_eq!(detail["chain"][1]["error"], "smtp said no again");
    let e = fails(&t, &["jobs", "show", "999999"]).await;
    assert!(e.contains("999999"), "{e}");

    let dead = json(&t, &["dlq", "list", "--json"]).await;
    assert_eq!(dead.as_array().unwrap().len(), 3);
    let dlq_table = ok(&t, &["dlq", "list", "--handler", "mail"]).await;
    assert_eq!(dlq_table.lines().count(), 2, "{dlq_table}");
    let out = ok(&t, &["dlq", "retry", &dead_id.to_string()]).await;
    assert!(
        out.starts_with(&format!("requeued dead execution {dead_id} as ")),
        "{out}"
    );
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions where idempotency_key = 'order-9#2:requeued' and status = 'queued'").await,
        1
    );
    let out = ok(&t, &["dlq", "retry", "--all", "--handler", "report"]).await;
    assert!(
        out.trim_end().ends_with("2 dead letter(s) requeued"),
        "{out}"
    );
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.dead_letters").await,
        0
    );
    let e = fails(&t, &["dlq", "retry", &id.to_string()]).await;
    assert!(e.contains("expected a dead execution"), "{e}");
    let e = fails(&t, &["dlq", "retry"]).await;
    assert!(e.contains("--all") || e.contains("<ID>"), "{e}");

    let out = ok(&t, &["jobs", "cancel", &later.to_string()]).await;
    assert!(out.contains("it was scheduled"), "{out}");
    assert_eq!(common::status_of(&t, later).await, "cancelled");

    // Queues.
    ok(&t, &["queue", "pause", "mail"]).await;
    ok(&t, &["queue", "limit", "mail", "4"]).await;
    let queues = json(&t, &["queue", "list", "--json"]).await;
    let mail = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "mail")
        .unwrap();
    assert_eq!(
        (mail["paused"].as_bool(), mail["concurrency_limit"].as_i64()),
        (Some(true), Some(4))
    );
    ok(&t, &["queue", "resume", "mail"]).await;
    ok(&t, &["queue", "limit", "mail", "--none"]).await;
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.queues where name = 'mail' and not paused and concurrency_limit is null").await,
        1
    );
    let e = fails(&t, &["queue", "limit", "mail", "0"]).await;
    assert!(e.contains("invalid concurrency_limit '0'"), "{e}");
    let e = fails(&t, &["queue", "limit", "mail"]).await;
    assert!(e.contains("--none") || e.contains("<LIMIT>"), "{e}");

    // stats: a table, JSON, and --watch refreshing in place until interrupted.
    let stats = ok(&t, &["stats"]).await;
    assert!(
        stats.lines().next().unwrap().starts_with("queue"),
        "{stats}"
    );
    assert!(stats.lines().any(|l| l.starts_with("mail ")), "{stats}");
    assert!(
        json(&t, &["stats", "--json"])
            .await
            .as_array()
            .unwrap()
            .len()
            >= 2
    );
    let child = Command::new(BIN)
        .args(["stats", "--watch", "--interval", "200ms"])
        .env("DATABASE_URL", &t.url)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let out = common::signal_and_wait(child, Signal::SIGINT).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.matches("\x1b[2J\x1b[H").count() >= 2,
        "refreshed in place: {screen:?}"
    );

    let surfaces: Vec<String> = common::column(&t, "select distinct surface from pgtide.audit_log where action like 'queue.%' or action like 'execution.%'").await;
    assert_eq!(surfaces, ["cli"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_exists_everywhere_and_a_missing_url_is_one_clear_line() {
    let t = test_db().await;
    for args in [
        vec!["--help"],
        vec!["task", "--help"],
        vec!["task", "add", "--help"],
        vec!["enqueue", "--help"],
        vec!["jobs", "list", "--help"],
        vec!["dlq", "retry", "--help"],
        vec!["queue", "limit", "--help"],
        vec!["stats", "--help"],
        vec!["run", "--help"],
    ] {
        let out = ok(&t, &args).await;
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
    let out = Command::new(BIN)
        .args(["jobs", "list"])
        .env_remove("DATABASE_URL")
        .env_remove("PGTIDE_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("invalid database_url"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_http_serves_the_api_and_refuses_a_public_address_without_a_token() {
    let t = test_db().await;
    let out = Command::new(BIN)
        .args(["run", "--http", "0.0.0.0:18099"])
        .env("DATABASE_URL", &t.url)
        .env_remove("PGTIDE_API_TOKEN")
        .env_remove("PGTIDE_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PGTIDE_API_TOKEN") && stderr.contains("0.0.0.0:18099"),
        "{stderr}"
    );
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.workers").await,
        0,
        "nothing started"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .args(["run", "--http", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &t.url)
        .env("PGTIDE_API_TOKEN", "cli-token")
        .env_remove("PGTIDE_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    common::wait_until(Duration::from_secs(20), "the API to answer", || async {
        matches!(http.get(format!("{base}/healthz")).send().await, Ok(r) if r.status().is_success())
    })
    .await;
    let response = http
        .post(format!("{base}/api/jobs"))
        .bearer_auth("cli-token")
        .json(&serde_json::json!({"handler": "noop", "idempotency_key": "via-run"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    // The process's own worker runs it.
    common::wait_until(Duration::from_secs(10), "the job to succeed", || async {
        scalar(&t, "select count(*) from pgtide.executions where idempotency_key = 'via-run' and status = 'succeeded'").await == 1
    })
    .await;
    let denied = http.get(format!("{base}/api/queues")).send().await.unwrap();
    assert_eq!(denied.status(), reqwest::StatusCode::UNAUTHORIZED);
    let out = common::signal_and_wait(child, Signal::SIGTERM).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_key_and_rate_limits_and_concurrency_keys_from_the_cli() {
    let t = test_db().await;
    for key in ["acme", "acme", "globex"] {
        printed_id(
            &t,
            &[
                "enqueue",
                "noop",
                "--queue",
                "shared",
                "--concurrency-key",
                key,
            ],
        )
        .await;
    }
    ok(
        &t,
        &[
            "task",
            "add",
            "nightly",
            "noop",
            "--cron",
            "0 3 * * *",
            "--queue",
            "shared",
            "--concurrency-key",
            "acme",
        ],
    )
    .await;
    assert_eq!(
        one::<String>(
            &t,
            "select concurrency_key from pgtide.tasks where name = 'nightly'",
            &[]
        )
        .await,
        "acme"
    );
    ok(&t, &["task", "trigger", "nightly"]).await;
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where concurrency_key = 'acme'"
        )
        .await,
        3,
        "two enqueued and one fired by the task"
    );

    assert_eq!(
        ok(&t, &["queue", "key-limit", "shared", "2"]).await.trim(),
        "queue \"shared\" runs at most 2 job(s) of each key at once"
    );
    ok(
        &t,
        &[
            "queue",
            "key-limit",
            "shared",
            "4",
            "--concurrency-key",
            "acme",
        ],
    )
    .await;
    assert_eq!(
        ok(
            &t,
            &[
                "queue",
                "rate-limit",
                "shared",
                "10",
                "--per",
                "1s",
                "--per-key"
            ]
        )
        .await
        .trim(),
        "queue \"shared\" starts at most 10 job(s) per 1s for each key"
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.queues
              where name = 'shared' and key_concurrency_limit = 2 and rate_max_starts = 10
                and rate_per = interval '1 second' and rate_per_key"
        )
        .await,
        1
    );
    assert_eq!(
        one::<i32>(
            &t,
            "select concurrency_limit from pgtide.key_limits where concurrency_key = 'acme'",
            &[]
        )
        .await,
        4
    );
    let keys = json(&t, &["queue", "keys", "shared", "--json"]).await;
    assert_eq!(keys[0]["concurrency_key"], "acme", "{keys}");
    assert_eq!(keys[0]["queued"], 3, "{keys}");
    assert_eq!(keys[0]["concurrency_limit"], 4, "{keys}");
    let table = ok(&t, &["queue", "keys", "shared"]).await;
    assert!(table.contains("globex"), "{table}");
    let list = ok(&t, &["queue", "list"]).await;
    assert!(list.contains("10/00:00:01 per key"), "{list}");

    // Bad input: one line naming the field, and nothing changes.
    let e = fails(&t, &["queue", "key-limit", "shared", "0"]).await;
    assert!(e.contains("invalid concurrency_limit '0'"), "{e}");
    let e = fails(&t, &["queue", "rate-limit", "shared", "0", "--per", "1s"]).await;
    assert!(e.contains("invalid max_starts '0'"), "{e}");
    let e = fails(&t, &["queue", "rate-limit", "shared", "5", "--per", "0s"]).await;
    assert!(e.contains("invalid per"), "{e}");
    let long = "k".repeat(201);
    let e = fails(&t, &["enqueue", "noop", "--concurrency-key", &long]).await;
    assert!(e.contains("concurrency_key"), "{e}");
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        4,
        "the refused job was not enqueued"
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.queues
              where name = 'shared' and key_concurrency_limit = 2 and rate_max_starts = 10"
        )
        .await,
        1
    );

    ok(&t, &["queue", "key-limit", "shared", "--none"]).await;
    ok(
        &t,
        &[
            "queue",
            "key-limit",
            "shared",
            "--none",
            "--concurrency-key",
            "acme",
        ],
    )
    .await;
    ok(&t, &["queue", "rate-limit", "shared", "--none"]).await;
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.queues
              where name = 'shared' and key_concurrency_limit is null and rate_max_starts is null
                and not rate_per_key and not exists (select 1 from pgtide.key_limits)"
        )
        .await,
        1
    );
    // Six changes, each audited with the surface cli.
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.audit_log
              where action in ('queue.key_limit', 'queue.rate_limit') and surface = 'cli'"
        )
        .await,
        6
    );
}

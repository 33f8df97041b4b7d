//! The web console driven by a real headless Chromium (playwright-core from npm, Debian's
//! `chromium`), against a real `pgtide run --http` process with a worker, the scheduler, the leader
//! and an alert rule. `tests/browser/console.test.mjs` clicks through every page and checks what
//! the browser shows; this file builds the state, runs it, and checks the rows behind each click.
//!
//! It needs `node`, `/usr/bin/chromium` and `tests/browser/node_modules` (`npm ci` there). Without
//! them it says so and passes, so `cargo test` works on a machine without a browser;
//! `PGTIDE_REQUIRE_TOOLS=1` (which `.ci/run` sets after installing them) makes their absence a
//! failure instead. Screenshots of every page go to `target/console-screenshots/`.

use crate::common;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{scalar, test_db, wait_until};
use nix::sys::signal::Signal;
use pgtide::NewJob;

const BIN: &str = env!("CARGO_BIN_EXE_pgtide");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// What is missing to run the browser tests, if anything.
fn missing_tools() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("{chromium} (apt-get install chromium)"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node".into());
    }
    if !Path::new(ROOT)
        .join("tests/browser/node_modules/playwright-core")
        .exists()
    {
        return Some("tests/browser/node_modules (cd tests/browser && npm ci)".into());
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    if let Some(missing) = missing_tools() {
        common::tool_available(
            "the_console_in_a_real_browser",
            &missing,
            false,
            "Debian/Ubuntu: apt-get install chromium nodejs npm, then npm ci in tests/browser",
        );
        return;
    }
    let t = test_db().await;
    let dir = std::env::temp_dir().join(format!("pgtide-console-{}", t.name));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("pgtide.toml");
    std::fs::write(
        &config,
        r#"
        [worker]
        queues = ["default", "mail"]
        [handlers.send]
        kind = "shell"
        command = ["false"]
        [alerts]
        interval = "500ms"
        [[alerts.rules]]
        name = "mail failing"
        kind = "failure_rate"
        queue = "mail"
        above = 20
        min_attempts = 2
        "#,
    )
    .unwrap();

    // Work for the console to show: successes, dead letters, a delayed job, a cron task.
    for i in 0..20 {
        pgtide::enqueue(&t, &NewJob::new("noop").idempotency_key(format!("ok-{i}")))
            .await
            .unwrap();
    }
    for i in 0..3 {
        let job = NewJob::new("send")
            .queue("mail")
            .max_attempts(1)
            .idempotency_key(format!("mail-{i}"));
        pgtide::enqueue(&t, &job).await.unwrap();
    }
    let later = pgtide::enqueue(
        &t,
        &NewJob::new("noop")
            .idempotency_key("later")
            .run_at(chrono::Utc::now() + chrono::Duration::hours(1)),
    )
    .await
    .unwrap();
    t.client()
        .await
        .unwrap()
        .execute(
            "select pgtide.create_task('nightly', 'noop', cron => '30 2 * * *', timezone => 'Europe/Berlin')",
            &[],
        )
        .await
        .unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let token = "console-e2e-token";
    let child = Command::new(BIN)
        .args(["run", "--http", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &t.url)
        .env("PGTIDE_CONFIG", &config)
        .env("PGTIDE_API_TOKEN", token)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_until(Duration::from_secs(30), "the server to answer", || async {
        matches!(http.get(format!("{base}/healthz")).send().await, Ok(r) if r.status().is_success())
    })
    .await;
    wait_until(Duration::from_secs(30), "the jobs to finish", || async {
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'succeeded'",
        )
        .await
            == 20
            && scalar(
                &t,
                "select count(*) from pgtide.executions where status = 'dead'",
            )
            .await
                == 3
    })
    .await;
    wait_until(Duration::from_secs(30), "the alert to fire", || async {
        scalar(&t, "select count(*) from pgtide.alerts").await == 1
    })
    .await;
    let dead_id = scalar(
        &t,
        "select min(id) from pgtide.executions where status = 'dead'",
    )
    .await;

    let shots = Path::new(ROOT).join("../target/console-screenshots");
    let started = Instant::now();
    let out = Command::new("node")
        .args([
            "--test",
            "--test-reporter=spec",
            "tests/browser/console.test.mjs",
        ])
        .current_dir(ROOT)
        .env("PGTIDE_URL", &base)
        .env("PGTIDE_TOKEN", token)
        .env("DEAD_ID", dead_id.to_string())
        .env("CANCEL_ID", later.to_string())
        .env("SCREENSHOTS", &shots)
        .output()
        .unwrap();
    let took = started.elapsed();
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}\nbrowser tests took {:.1} s", took.as_secs_f64());
    let server = common::signal_and_wait(child, Signal::SIGTERM).await;
    assert!(
        out.status.success(),
        "browser tests failed:\n{report}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&server.stderr)
    );

    // The rows behind the clicks.
    let rows = |sql: &'static str| {
        let t = &t;
        async move { scalar(t, sql).await }
    };
    assert_eq!(
        rows("select count(*) from pgtide.queues where name = 'default' and paused").await,
        1
    );
    assert_eq!(
        rows("select count(*) from pgtide.queues where name = 'mail' and paused").await,
        0
    );
    assert_eq!(
        rows(
            "select count(*) from pgtide.executions e join pgtide.tasks t on t.id = e.task_id \
              where t.name = 'nightly' and e.idempotency_key like 'task:%:manual:%'"
        )
        .await,
        1
    );
    let requeued = scalar(
        &t,
        &format!(
            "select count(*) from pgtide.executions r join pgtide.executions d \
             on r.idempotency_key = d.idempotency_key || ':requeued' and r.retry_of = d.id \
             where d.id = {dead_id}"
        ),
    )
    .await;
    assert_eq!(requeued, 1);
    assert_eq!(
        scalar(&t, &format!("select count(*) from pgtide.executions where id = {later} and status = 'cancelled'")).await,
        1
    );
    // Every action is audited with the surface `console`; the refused CSRF-less form wrote nothing.
    for (action, object) in [
        ("queue.pause", "default".to_string()),
        ("task.trigger", "nightly".to_string()),
        ("execution.retry_dead", dead_id.to_string()),
        ("execution.cancel", later.to_string()),
    ] {
        let n = t
            .client()
            .await
            .unwrap()
            .query_one(
                "select count(*) from pgtide.audit_log where surface = 'console' \
                 and application_name = 'pgtide-console' and action = $1 and object_id = $2",
                &[&action, &object],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        assert_eq!(n, 1, "{action} {object}");
    }
    assert_eq!(
        rows("select count(*) from pgtide.audit_log where object_id = 'mail' and action like 'queue.%'").await,
        0
    );
    for page in [
        "login",
        "overview",
        "tasks",
        "dead-letters",
        "execution",
        "executions",
        "charts",
        "workers",
        "alerts",
        "audit",
    ] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "screenshot {page}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

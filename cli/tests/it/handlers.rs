//! The configured handler kinds against real processes, a real HTTP server and real SQL.

use crate::common;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{extract::State, http::HeaderMap, routing::post, Json, Router};
use common::{scalar, test_db, wait_until, RunningWorker};
use pgtide::{
    config::{HttpConfig, ShellConfig},
    handlers::{HttpHandler, Registry, ShellHandler},
    NewJob, SqlHandler, WorkerConfig,
};
use serde_json::{json, Value};

fn config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 4,
        poll_interval: Duration::from_millis(100),
        lease: Duration::from_secs(10),
        ..Default::default()
    }
}

fn shell(command: &[&str]) -> Arc<ShellHandler> {
    Arc::new(ShellHandler::new(ShellConfig {
        command: command.iter().map(|s| s.to_string()).collect(),
        timeout: None,
        env: BTreeMap::from([("GREETING".to_string(), "hi".to_string())]),
        ..Default::default()
    }))
}

struct Finished {
    status: String,
    result: Option<Value>,
    error: Option<String>,
    retries: i64,
}

async fn finished(t: &common::TestDb, key: &str) -> Finished {
    let client = t.client().await.unwrap();
    let row = client
        .query_one(
            "select status::text, result, error,
                    (select count(*) from pgtide.executions r where r.retry_of = e.id) as retries
               from pgtide.executions e where idempotency_key = $1",
            &[&key],
        )
        .await
        .unwrap();
    Finished {
        status: row.get(0),
        result: row.get(1),
        error: row.get(2),
        retries: row.get(3),
    }
}

async fn wait_finished(t: &common::TestDb, n: i64) {
    wait_until(Duration::from_secs(20), "every attempt to finish", || async {
        scalar(t, "select count(*) from pgtide.executions where attempt = 1 and finished_at is not null").await == n
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_handler_gets_the_payload_and_reports_output() {
    let t = test_db().await;
    let scratch = std::env::temp_dir().join(format!("pgtide-shell-{}", t.name));
    std::fs::create_dir_all(&scratch).unwrap();
    let pwned = scratch.join("pwned");
    let pid_file = scratch.join("pid");
    let mut registry = Registry::new();
    registry.insert("cat", shell(&["cat"]), None);
    registry.insert(
        "env",
        shell(&["sh", "-c", "printf '%s|%s|%s|%s' \"$PGTIDE_PAYLOAD\" \"$PGTIDE_ATTEMPT\" \"$PGTIDE_IDEMPOTENCY_KEY\" \"$GREETING\""]),
        None,
    );
    registry.insert(
        "fails",
        shell(&["sh", "-c", "echo partial; echo 'disk full' >&2; exit 3"]),
        None,
    );
    registry.insert(
        "chatty",
        shell(&["sh", "-c", "head -c 10000 /dev/zero | tr '\\0' a"]),
        None,
    );
    let pid_arg = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
    registry.insert(
        "hangs",
        shell(&["sh", "-c", &pid_arg]),
        Some(Duration::from_millis(500)),
    );

    let injection = format!("$(touch {})", pwned.display());
    let jobs = vec![
        NewJob::new("cat")
            .payload(json!({"to": "a@b.c", "n": 1}))
            .idempotency_key("cat"),
        NewJob::new("cat")
            .payload(json!({ "evil": injection, "also": "`touch x`; rm -rf /" }))
            .idempotency_key("inject"),
        NewJob::new("env")
            .payload(json!([1, 2]))
            .idempotency_key("env"),
        NewJob::new("fails").idempotency_key("fails"),
        NewJob::new("chatty").idempotency_key("chatty"),
        NewJob::new("hangs").idempotency_key("hangs"),
    ];
    pgtide::enqueue_many(&t, &jobs).await.unwrap();
    let worker = RunningWorker::start(&t, registry, config());
    wait_finished(&t, 6).await;
    worker.stop().await;

    let cat = finished(&t, "cat").await;
    assert_eq!(cat.status, "succeeded");
    assert_eq!(
        cat.result,
        Some(json!({"to": "a@b.c", "n": 1})),
        "stdout that parses is stored as JSON"
    );

    let inject = finished(&t, "inject").await;
    assert_eq!(inject.status, "succeeded");
    assert_eq!(
        inject.result.unwrap()["evil"],
        json!(injection),
        "the payload is data, never a command"
    );
    assert!(!pwned.exists(), "nothing ran the payload through a shell");

    let env = finished(&t, "env").await;
    assert_eq!(
        env.result,
        Some(json!("[1,2]|1|env|hi")),
        "payload, attempt, key and config env are in the environment"
    );

    let fails = finished(&t, "fails").await;
    assert_eq!(fails.status, "failed");
    assert_eq!(
        fails.error.as_deref(),
        Some("sh failed: exit status 3: disk full")
    );
    assert_eq!(fails.retries, 1, "a non-zero exit is retried");

    let chatty = finished(&t, "chatty").await;
    let Some(Value::String(out)) = chatty.result else {
        panic!("chatty result")
    };
    assert_eq!(
        out,
        format!("[...] {}", "a".repeat(4096)),
        "only the last 4 KiB of stdout are kept"
    );

    let hangs = finished(&t, "hangs").await;
    assert_eq!(hangs.status, "failed");
    assert_eq!(hangs.error.as_deref(), Some("timed out after 500ms"));
    // The background grandchild was in the killed process group.
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_until(
        Duration::from_secs(5),
        "the grandchild to be killed",
        || async {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => true,
                // A zombie waiting for its reaper is dead too.
                Ok(stat) => stat.split_whitespace().nth(2) == Some("Z"),
            }
        },
    )
    .await;
    let _ = std::fs::remove_dir_all(&scratch);
}

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, Value, HeaderMap)>>>);

async fn record(
    State(seen): State<Seen>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, String) {
    let path = uri.path().to_string();
    seen.0.lock().unwrap().push((path.clone(), body, headers));
    match path.as_str() {
        "/ok" => (
            axum::http::StatusCode::OK,
            json!({"sent": true}).to_string(),
        ),
        "/text" => (axum::http::StatusCode::CREATED, "created".into()),
        "/busy" => (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "slow down".into(),
        ),
        "/broken" => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "oops".into()),
        _ => (
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "bad address".into(),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_handler_posts_and_classifies_answers() {
    let t = test_db().await;
    let seen = Seen::default();
    let app = Router::new()
        .route("/{*path}", post(record))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    // A port with nothing listening, for the network-error case.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    let mut registry = Registry::new();
    for (name, url) in [
        ("ok", format!("http://{addr}/ok")),
        ("text", format!("http://{addr}/text")),
        ("busy", format!("http://{addr}/busy")),
        ("broken", format!("http://{addr}/broken")),
        ("invalid", format!("http://{addr}/invalid")),
        ("down", format!("http://{closed}/")),
    ] {
        let handler = HttpHandler::new(
            name,
            HttpConfig {
                url,
                headers: BTreeMap::from([("Authorization".to_string(), "Bearer t0k".to_string())]),
                timeout: None,
            },
        )
        .unwrap();
        registry.insert(name, Arc::new(handler), None);
    }
    let jobs: Vec<NewJob> = ["ok", "text", "busy", "broken", "invalid", "down"]
        .iter()
        .map(|h| {
            NewJob::new(*h)
                .payload(json!({ "to": h }))
                .idempotency_key(format!("http-{h}"))
        })
        .collect();
    pgtide::enqueue_many(&t, &jobs).await.unwrap();
    let worker = RunningWorker::start(&t, registry, config());
    wait_finished(&t, 6).await;
    worker.stop().await;

    let ok = finished(&t, "http-ok").await;
    assert_eq!(
        (ok.status.as_str(), ok.result),
        ("succeeded", Some(json!({"sent": true})))
    );
    let text = finished(&t, "http-text").await;
    assert_eq!(
        (text.status.as_str(), text.result),
        ("succeeded", Some(json!("created")))
    );
    for (key, status, retries, error) in [
        ("http-busy", "failed", 1, "429 Too Many Requests: slow down"),
        (
            "http-broken",
            "failed",
            1,
            "500 Internal Server Error: oops",
        ),
        (
            "http-invalid",
            "dead",
            0,
            "422 Unprocessable Entity: bad address",
        ),
    ] {
        let f = finished(&t, key).await;
        assert_eq!((f.status.as_str(), f.retries), (status, retries), "{key}");
        assert!(
            f.error.as_deref().unwrap().contains(error),
            "{key}: {:?}",
            f.error
        );
    }
    let down = finished(&t, "http-down").await;
    assert_eq!(
        (down.status.as_str(), down.retries),
        ("failed", 1),
        "a network error is retried"
    );

    let seen = seen.0.lock().unwrap();
    let (_, body, headers) = seen.iter().find(|(path, ..)| path == "/ok").unwrap();
    assert_eq!(body, &json!({"to": "ok"}), "the payload is the JSON body");
    assert_eq!(headers["authorization"], "Bearer t0k");
    assert_eq!(headers["idempotency-key"], "http-ok");
    assert_eq!(headers["content-type"], "application/json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_handler_commits_with_the_completion_or_not_at_all() {
    let t = test_db().await;
    t.client()
        .await
        .unwrap()
        .batch_execute("create table ledger (n int not null, payload jsonb)")
        .await
        .unwrap();
    let mut registry = Registry::new();
    registry.insert_sql(
        "record",
        SqlHandler::new("insert into ledger (n, payload) values (($1->>'n')::int, $1)"),
    );
    // Inserts a row, then fails: the insert must roll back with the failed attempt.
    registry.insert_sql(
        "half",
        SqlHandler::new("with ins as (insert into ledger (n) values (($1->>'n')::int) returning n) select n / 0 from ins"),
    );
    registry.insert_sql(
        "slow",
        SqlHandler {
            statement: "select pg_sleep(5)".into(),
            timeout: Some(Duration::from_millis(200)),
        },
    );
    let jobs = vec![
        NewJob::new("record")
            .payload(json!({"n": 1}))
            .idempotency_key("record"),
        NewJob::new("half")
            .payload(json!({"n": 2}))
            .idempotency_key("half"),
        NewJob::new("slow").idempotency_key("slow"),
    ];
    pgtide::enqueue_many(&t, &jobs).await.unwrap();
    let worker = RunningWorker::start(&t, registry, config());
    wait_finished(&t, 3).await;
    worker.stop().await;

    assert_eq!(finished(&t, "record").await.status, "succeeded");
    let rows: Vec<(i32, Option<Value>)> = t
        .client()
        .await
        .unwrap()
        .query("select n, payload from ledger", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        rows,
        [(1, Some(json!({"n": 1})))],
        "only the successful statement's effect exists"
    );

    let half = finished(&t, "half").await;
    assert_eq!(half.status, "failed");
    assert!(
        half.error
            .as_deref()
            .unwrap()
            .contains("22012: division by zero"),
        "{:?}",
        half.error
    );
    assert_eq!(half.retries, 1);

    let slow = finished(&t, "slow").await;
    assert_eq!(slow.status, "failed");
    assert!(
        slow.error.as_deref().unwrap().contains("57014"),
        "statement_timeout applies: {:?}",
        slow.error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_payload_is_data_never_a_command() {
    let t = test_db().await;
    let pwned = std::path::Path::new("/tmp/pwned");
    let _ = std::fs::remove_file(pwned);
    let hostile = [
        json!("$(touch /tmp/pwned)"),
        json!("`touch /tmp/pwned`"),
        json!({"file": "x; touch /tmp/pwned", "arg": "$(touch /tmp/pwned)"}),
        json!([
            "|| touch /tmp/pwned",
            "&& touch /tmp/pwned",
            "\n touch /tmp/pwned"
        ]),
    ];
    for (i, payload) in hostile.iter().enumerate() {
        pgtide::enqueue(
            &t,
            &NewJob::new("echo_stdin")
                .payload(payload.clone())
                .idempotency_key(format!("h-{i}")),
        )
        .await
        .unwrap();
    }
    // The program gets the payload on stdin and in PGTIDE_PAYLOAD, and prints stdin back.
    let worker = RunningWorker::start(
        &t,
        common::registry(vec![("echo_stdin", shell(&["cat"]))]),
        config(),
    );
    wait_finished(&t, hostile.len() as i64).await;
    worker.stop().await;
    for (i, payload) in hostile.iter().enumerate() {
        let f = finished(&t, &format!("h-{i}")).await;
        assert_eq!(f.status, "succeeded", "{:?}", f.error);
        assert_eq!(
            f.result.as_ref(),
            Some(payload),
            "the payload came back as data"
        );
    }
    assert!(!pwned.exists(), "a payload was executed: /tmp/pwned exists");
}

/// Through the binary, as an operator runs it: a shell command's environment holds no secret of the
/// worker's (`DATABASE_URL` with its password, `PGTIDE_API_TOKEN`, anything else), only the minimal
/// set, its own `env`, `pass_env` and the job variables; `inherit_env = true` opts into everything.
/// A 1,000,000-byte payload, over Linux's 128 KiB limit for one environment string, arrives whole
/// on stdin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_command_gets_no_secret_of_the_workers_and_the_whole_payload_on_stdin() {
    let t = test_db().await;
    let config = std::env::temp_dir().join(format!("pgtide-shell-env-{}.toml", t.name));
    std::fs::write(
        &config,
        r#"
[handlers.minimal]
kind = "shell"
command = ["env"]
env = { GREETING = "hi" }
[handlers.passing]
kind = "shell"
command = ["sh", "-c", "echo \"region=$AWS_REGION token=$PGTIDE_API_TOKEN\""]
pass_env = ["AWS_REGION"]
[handlers.everything]
kind = "shell"
command = ["sh", "-c", "echo \"token=$PGTIDE_API_TOKEN\""]
inherit_env = true
[handlers.count]
kind = "shell"
command = ["sh", "-c", "printf '%s ' \"${PGTIDE_PAYLOAD:-unset}\" | head -c 10; wc -c"]
"#,
    )
    .unwrap();
    // A 1,000,000-byte payload: {"blob":"xxx..."}.
    let blob = "x".repeat(1_000_000 - r#"{"blob":""}"#.len());
    let jobs = [
        NewJob::new("minimal").idempotency_key("minimal"),
        NewJob::new("passing").idempotency_key("passing"),
        NewJob::new("everything").idempotency_key("everything"),
        NewJob::new("count")
            .payload(json!({ "blob": blob }))
            .idempotency_key("count"),
    ];
    pgtide::enqueue_many(&t, &jobs).await.unwrap();
    let with_password = common::with_user(&t.url, "postgres", "s3cret-db-password");
    let mut worker = std::process::Command::new(env!("CARGO_BIN_EXE_pgtide"))
        .args(["worker", "--config"])
        .arg(&config)
        .env("DATABASE_URL", &with_password)
        .env("PGTIDE_API_TOKEN", "s3cret-api-token")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_SECRET_ACCESS_KEY", "s3cret-aws-key")
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(30), "the four jobs", || async {
        scalar(
            &t,
            "select count(*) from pgtide.executions where status = 'succeeded'",
        )
        .await
            == 4
    })
    .await;
    let _ = worker.kill();
    let _ = worker.wait();

    let result = |key: &'static str| {
        let t = &t;
        async move {
            let f = finished(t, key).await;
            assert_eq!(f.status, "succeeded", "{key}: {:?}", f.error);
            f.result.expect("a result")
        }
    };
    let minimal = result("minimal").await;
    let minimal = minimal.as_str().expect("env's output");
    for expected in [
        "PATH=",
        "TZ=UTC",
        "LC_ALL=C",
        "GREETING=hi",
        "PGTIDE_EXECUTION_ID=",
        "PGTIDE_IDEMPOTENCY_KEY=minimal",
        "PGTIDE_PAYLOAD={}",
    ] {
        assert!(minimal.contains(expected), "{expected} missing:\n{minimal}");
    }
    for secret in [
        "s3cret",
        "DATABASE_URL",
        "PGTIDE_API_TOKEN",
        "AWS_",
        "CARGO",
    ] {
        assert!(!minimal.contains(secret), "{secret} leaked:\n{minimal}");
    }
    assert_eq!(
        result("passing").await,
        json!("region=eu-west-1 token="),
        "pass_env passes what it names and nothing else"
    );
    assert_eq!(result("everything").await, json!("token=s3cret-api-token"));
    // The payload is not in the environment (too long), and stdin carries all of it.
    assert_eq!(result("count").await, json!("unset 1000000"));
    let attempt: i32 = common::one(
        &t,
        "select attempt from pgtide.executions where idempotency_key = 'count'",
        &[],
    )
    .await;
    assert_eq!(attempt, 1);
    let _ = std::fs::remove_file(&config);
}

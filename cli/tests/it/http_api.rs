//! The HTTP API over a real socket and a real database: every route with good and bad input, the
//! token, the body cap, JSON errors, the OpenAPI document, /metrics and /healthz.

use crate::common;

use std::{sync::Arc, time::Duration};

use common::{
    handlers::Permanent, quick_config, registry, scalar, test_db, wait_until, RunningWorker, TestDb,
};
use pgtide::{http::ApiState, web::App, Database};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "test-token-0123456789";

struct Api {
    base: String,
    http: reqwest::Client,
    stop: CancellationToken,
}

impl Api {
    async fn start(t: &TestDb, worker: Option<pgtide::Worker>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let db = Database::connect_as(&t.url, 4, "pgtide-http").unwrap();
        let state = ApiState::new(db, Some(TOKEN.into()), worker);
        let stop = CancellationToken::new();
        tokio::spawn({
            let stop = stop.clone();
            async move {
                pgtide::web::serve(listener, App::new(state), stop)
                    .await
                    .unwrap()
            }
        });
        Self {
            base,
            http: reqwest::Client::new(),
            stop,
        }
    }

    /// Sends `method path` with the token and an optional JSON body; returns status and JSON body.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    async fn raw(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Asserts an error answer: the status, the JSON shape, and the field.
fn assert_error(answer: &(StatusCode, Value), status: StatusCode, field: Option<&str>) {
    assert_eq!(answer.0, status, "{}", answer.1);
    let error = &answer.1["error"];
    assert!(
        error["code"].is_string() && error["message"].is_string(),
        "{}",
        answer.1
    );
    assert_eq!(error["field"].as_str(), field, "{}", answer.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_routes_create_read_pause_resume_trigger_and_delete() {
    let t = test_db().await;
    let api = Api::start(&t, None).await;

    let created = api
        .call(
            Method::POST,
            "/api/tasks",
            Some(
                json!({"name": "report", "handler": "noop", "cron": "30 2 * * *",
                        "timezone": "Europe/Berlin", "payload": {"fast": true}, "retry_base": "30s",
                        "tags": ["billing"]}),
            ),
        )
        .await;
    assert_eq!(created.0, StatusCode::CREATED, "{}", created.1);
    assert_eq!(created.1["name"], "report");
    assert_eq!(created.1["payload"], json!({"fast": true}));
    let id = created.1["id"].as_i64().unwrap();
    let row = t
        .client()
        .await
        .unwrap()
        .query_one(
            "select timezone, retry_base = interval '30 seconds', tags from pgtide.tasks where name = 'report'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Europe/Berlin");
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, Vec<String>>(2), vec!["billing"]);

    // By id and by name.
    let (status, by_id) = api
        .call(Method::GET, &format!("/api/tasks/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, by_name) = api.call(Method::GET, "/api/tasks/report", None).await;
    assert_eq!(by_id["id"], by_name["id"]);
    let (status, list) = api.call(Method::GET, "/api/tasks", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);

    let (status, paused) = api
        .call(Method::POST, &format!("/api/tasks/{id}/pause"), None)
        .await;
    assert_eq!(
        (status, paused["status"].as_str()),
        (StatusCode::OK, Some("paused"))
    );
    let (status, resumed) = api
        .call(Method::POST, "/api/tasks/report/resume", None)
        .await;
    assert_eq!(
        (status, resumed["status"].as_str()),
        (StatusCode::OK, Some("active"))
    );

    let (status, fired) = api
        .call(Method::POST, "/api/tasks/report/trigger", None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{fired}");
    let keyed = api
        .call(
            Method::POST,
            "/api/tasks/report/trigger",
            Some(json!({"idempotency_key": "deploy-42"})),
        )
        .await;
    let again = api
        .call(
            Method::POST,
            "/api/tasks/report/trigger",
            Some(json!({"idempotency_key": "deploy-42"})),
        )
        .await;
    assert_eq!(
        keyed.1["execution_id"], again.1["execution_id"],
        "one key, one run"
    );
    assert_ne!(keyed.1["execution_id"], fired["execution_id"]);

    let (status, executions) = api
        .call(Method::GET, "/api/tasks/report/executions?limit=10", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let executions = executions.as_array().unwrap();
    assert_eq!(executions.len(), 2);
    assert!(executions
        .iter()
        .all(|e| e["task_name"] == "report" && e["status"] == "queued"));
    assert!(
        executions[0].get("payload").is_none(),
        "listings leave payloads out"
    );

    assert_error(
        &api.call(Method::DELETE, "/api/tasks/nope", None).await,
        StatusCode::NOT_FOUND,
        Some("name"),
    );
    let (status, body) = api.call(Method::DELETE, "/api/tasks/report", None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(scalar(&t, "select count(*) from pgtide.tasks").await, 0);
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where task_name = 'report'"
        )
        .await,
        2,
        "executions outlive their task"
    );

    // Every change went through the SQL functions and is audited as http.
    let actions: Vec<String> = common::column(
        &t,
        "select action from pgtide.audit_log where surface = 'http' order by id",
    )
    .await;
    assert_eq!(
        actions,
        [
            "task.create",
            "task.pause",
            "task.resume",
            "task.trigger",
            "task.trigger",
            "task.delete"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_routes_refuse_bad_input_with_json_errors_and_write_nothing() {
    let t = test_db().await;
    let api = Api::start(&t, None).await;
    let post = |body: Value| api.call(Method::POST, "/api/tasks", Some(body));

    assert_error(
        &post(json!({"name": "r", "handler": "noop", "cron": "* * *"})).await,
        StatusCode::BAD_REQUEST,
        Some("cron"),
    );
    let out_of_range = post(json!({"name": "r", "handler": "noop", "cron": "61 * * * *"})).await;
    assert_error(&out_of_range, StatusCode::BAD_REQUEST, Some("cron"));
    let message = out_of_range.1["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the minute field to be valid: it must be 0-59, but it is \"61\"")
            && !message.contains('\n'),
        "{message}"
    );
    assert_error(
        &post(json!({"name": "r", "handler": "noop", "every": "soon"})).await,
        StatusCode::BAD_REQUEST,
        Some("every"),
    );
    assert_error(
        &post(
            json!({"name": "r", "handler": "noop", "cron": "0 * * * *", "timezone": "Mars/Base"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        Some("timezone"),
    );
    assert_error(
        &post(json!({"name": "r", "handler": "noop"})).await,
        StatusCode::BAD_REQUEST,
        Some("schedule"),
    );
    assert_error(
        &post(json!({"name": "r", "handler": "noop", "every": "1h", "colour": "red"})).await,
        StatusCode::BAD_REQUEST,
        Some("colour"),
    );
    assert_error(
        &post(json!({"name": "r", "every": "1h"})).await,
        StatusCode::BAD_REQUEST,
        Some("handler"),
    );
    assert_error(
        &post(json!({"name": 7, "handler": "noop", "every": "1h"})).await,
        StatusCode::BAD_REQUEST,
        Some("name"),
    );
    assert_error(
        &post(json!({"name": "r", "handler": "noop", "every": "1h", "max_attempts": 0})).await,
        StatusCode::BAD_REQUEST,
        Some("max_attempts"),
    );
    assert_error(
        &post(json!({"name": "x'; drop table pgtide.tasks; --", "handler": "noop", "every": "1h", "overlap": "maybe"})).await,
        StatusCode::BAD_REQUEST,
        Some("overlap"),
    );
    // Malformed JSON, a wrong content type, an oversized body.
    let raw = api
        .raw(
            api.http
                .post(format!("{}/api/tasks", api.base))
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body("{\"name\": "),
        )
        .await;
    assert_error(&raw, StatusCode::BAD_REQUEST, None);
    let raw = api
        .raw(
            api.http
                .post(format!("{}/api/tasks", api.base))
                .bearer_auth(TOKEN)
                .body("name=r"),
        )
        .await;
    assert_error(&raw, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
    let huge =
        json!({"name": "big", "handler": "noop", "every": "1h", "payload": "x".repeat(1_100_000)});
    assert_error(&post(huge).await, StatusCode::PAYLOAD_TOO_LARGE, None);

    // A duplicate name is a conflict.
    assert_eq!(
        post(json!({"name": "r", "handler": "noop", "every": "1h"}))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_error(
        &post(json!({"name": "r", "handler": "noop", "every": "1h"})).await,
        StatusCode::CONFLICT,
        None,
    );

    // Unknown and malformed ids, SQL metacharacters and traversal attempts in paths.
    for path in [
        "/api/tasks/nope",
        "/api/tasks/999999",
        "/api/tasks/r'%3B%20drop%20table%20pgtide.tasks%3B--",
        "/api/tasks/..%2F..%2Fetc%2Fpasswd",
    ] {
        let field = if path.ends_with("999999") {
            "id"
        } else {
            "name"
        };
        assert_error(
            &api.call(Method::GET, path, None).await,
            StatusCode::NOT_FOUND,
            Some(field),
        );
    }
    assert_error(
        &api.call(Method::GET, "/api/tasks/99999999999999999999", None)
            .await,
        StatusCode::BAD_REQUEST,
        Some("id"),
    );
    let long = "n".repeat(201);
    assert_error(
        &api.call(Method::POST, &format!("/api/tasks/{long}/pause"), None)
            .await,
        StatusCode::BAD_REQUEST,
        Some("id"),
    );
    assert_error(
        &api.call(
            Method::POST,
            "/api/tasks/r/trigger",
            Some(json!({"key": "k"})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        Some("key"),
    );
    assert_error(
        &api.call(Method::GET, "/api/tasks/r/executions?limit=0", None)
            .await,
        StatusCode::BAD_REQUEST,
        Some("limit"),
    );
    assert_error(
        &api.call(Method::GET, "/api/tasks/r/executions?limit=many", None)
            .await,
        StatusCode::BAD_REQUEST,
        Some("limit"),
    );
    assert_error(
        &api.call(Method::PUT, "/api/tasks/r", None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        None,
    );
    assert_error(
        &api.call(Method::GET, "/api/nothing", None).await,
        StatusCode::NOT_FOUND,
        None,
    );

    // Nothing but the one good task was written.
    assert_eq!(scalar(&t, "select count(*) from pgtide.tasks").await, 1);
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_and_queue_routes_enqueue_list_show_retry_cancel_pause_and_limit() {
    let t = test_db().await;
    let api = Api::start(&t, None).await;

    let (status, enqueued) = api
        .call(
            Method::POST,
            "/api/jobs",
            Some(
                json!({"handler": "mail", "payload": {"to": "a@b.c"}, "queue": "mail",
                        "idempotency_key": "order-1", "priority": -5, "max_attempts": 2,
                        "retry_strategy": "fixed", "retry_base": "1s"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{enqueued}");
    let id = enqueued["id"].as_i64().unwrap();
    let (_, again) = api
        .call(
            Method::POST,
            "/api/jobs",
            Some(json!({"handler": "mail", "idempotency_key": "order-1"})),
        )
        .await;
    assert_eq!(again["id"], id, "a known key returns the existing job");
    let (_, later) = api
        .call(
            Method::POST,
            "/api/jobs",
            Some(json!({"handler": "report", "in": "1h"})),
        )
        .await;
    let row = t
        .client()
        .await
        .unwrap()
        .query_one(
            "select status::text, visible_at > now() + interval '59 minutes' from pgtide.executions where id = $1",
            &[&later["id"].as_i64().unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "scheduled");
    assert!(row.get::<_, bool>(1));

    // Bad enqueues.
    assert_error(
        &api.call(Method::POST, "/api/jobs", Some(json!({"handler": ""})))
            .await,
        StatusCode::BAD_REQUEST,
        Some("handler"),
    );
    assert_error(
        &api.call(
            Method::POST,
            "/api/jobs",
            Some(json!({"handler": "x", "priority": 40000})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        Some("priority"),
    );
    assert_error(
        &api.call(
            Method::POST,
            "/api/jobs",
            Some(json!({"handler": "x", "in": "1h", "run_at": "2030-01-01T00:00:00Z"})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        Some("in"),
    );
    assert_error(
        &api.call(
            Method::POST,
            "/api/jobs",
            Some(json!({"handler": "x", "retry_strategy": "linear"})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        Some("retry_strategy"),
    );
    assert_error(
        &api.call(
            Method::POST,
            "/api/jobs",
            Some(json!({"handler": "x", "payload": "y".repeat(1_100_000)})),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        None,
    );

    // Listings and filters.
    let (status, jobs) = api.call(Method::GET, "/api/jobs?queue=mail", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jobs.as_array().unwrap().len(), 1);
    assert_eq!(jobs[0]["id"], id);
    let (_, scheduled) = api
        .call(
            Method::GET,
            "/api/jobs?status=scheduled&handler=report",
            None,
        )
        .await;
    assert_eq!(scheduled.as_array().unwrap().len(), 1);
    assert_error(
        &api.call(Method::GET, "/api/jobs?status=lost", None).await,
        StatusCode::BAD_REQUEST,
        Some("status"),
    );
    assert_error(
        &api.call(Method::GET, "/api/jobs?colour=red", None).await,
        StatusCode::BAD_REQUEST,
        Some("colour"),
    );

    // A job that dies, shown with its chain, then requeued.
    let worker = RunningWorker::start(
        &t,
        registry(vec![("mail", Arc::new(Permanent))]),
        pgtide::WorkerConfig {
            queues: vec!["mail".into()],
            ..quick_config(2)
        },
    );
    wait_until(Duration::from_secs(10), "the job to die", || async {
        common::status_of(&t, id).await == "dead"
    })
    .await;
    worker.stop().await;
    let (status, detail) = api
        .call(Method::GET, &format!("/api/jobs/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["execution"]["payload"], json!({"to": "a@b.c"}));
    assert_eq!(
        detail["execution"]["error"],
        "bad request: no such customer"
    );
    assert_eq!(detail["chain"].as_array().unwrap().len(), 1);
    let (status, retried) = api
        .call(Method::POST, &format!("/api/jobs/{id}/retry"), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{retried}");
    let new_id = retried["id"].as_i64().unwrap();
    assert_eq!(common::status_of(&t, new_id).await, "queued");
    let (_, chain) = api
        .call(Method::GET, &format!("/api/jobs/{new_id}"), None)
        .await;
    let chain_ids: Vec<i64> = chain["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        chain_ids,
        vec![id, new_id],
        "the whole chain, first attempt first"
    );
    assert_error(
        &api.call(Method::POST, &format!("/api/jobs/{new_id}/retry"), None)
            .await,
        StatusCode::BAD_REQUEST,
        Some("execution_id"),
    );

    let (status, cancelled) = api
        .call(Method::POST, &format!("/api/jobs/{new_id}/cancel"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["previous_status"], "queued");
    assert_eq!(common::status_of(&t, new_id).await, "cancelled");
    assert_error(
        &api.call(Method::POST, &format!("/api/jobs/{id}/cancel"), None)
            .await,
        StatusCode::BAD_REQUEST,
        Some("execution_id"),
    );
    for bad in ["abc", "0", "-1", "1%20or%201=1"] {
        assert_error(
            &api.call(Method::GET, &format!("/api/jobs/{bad}"), None)
                .await,
            StatusCode::BAD_REQUEST,
            Some("id"),
        );
    }
    assert_error(
        &api.call(Method::POST, "/api/jobs/424242/cancel", None)
            .await,
        StatusCode::NOT_FOUND,
        Some("execution_id"),
    );

    // Queues.
    let (status, _) = api.call(Method::POST, "/api/queues/mail/pause", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api
        .call(
            Method::POST,
            "/api/queues/mail/limit",
            Some(json!({"concurrency_limit": 4})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, queues) = api.call(Method::GET, "/api/queues", None).await;
    let mail = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "mail")
        .unwrap();
    assert_eq!(mail["paused"], true);
    assert_eq!(mail["concurrency_limit"], 4);
    assert_eq!(mail["dead"], 1);
    let (status, _) = api
        .call(Method::POST, "/api/queues/mail/resume", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.queues where name = 'mail' and not paused"
        )
        .await,
        1
    );
    assert_error(
        &api.call(
            Method::POST,
            "/api/queues/mail/limit",
            Some(json!({"concurrency_limit": 0})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        Some("concurrency_limit"),
    );
    assert_error(
        &api.call(
            Method::POST,
            "/api/queues/mail/limit",
            Some(json!({"concurrency_limit": "four"})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        Some("concurrency_limit"),
    );
    let long = "q".repeat(201);
    for action in ["pause", "resume", "limit"] {
        assert_error(
            &api.call(
                Method::POST,
                &format!("/api/queues/{long}/{action}"),
                Some(json!({"concurrency_limit": 1})),
            )
            .await,
            StatusCode::BAD_REQUEST,
            Some("queue"),
        );
    }
    assert_error(
        &api.call(Method::POST, "/api/queues/%0A/pause", None).await,
        StatusCode::BAD_REQUEST,
        Some("queue"),
    );
    let audited: Vec<String> = common::column(
        &t,
        "select action from pgtide.audit_log where surface = 'http' order by id",
    )
    .await;
    assert_eq!(
        audited,
        [
            "execution.retry_dead",
            "execution.cancel",
            "queue.pause",
            "queue.limit",
            "queue.resume"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_the_token_except_the_probes() {
    let t = test_db().await;
    let api = Api::start(&t, None).await;
    for (path, methods) in pgtide::http::ROUTES {
        let concrete = path.replace("{id}", "1").replace("{queue}", "default");
        for method in *methods {
            let url = format!("{}{concrete}", api.base);
            let missing = api.raw(api.http.request(method.clone(), &url)).await;
            let wrong = api
                .raw(
                    api.http
                        .request(method.clone(), &url)
                        .bearer_auth("wrong-token"),
                )
                .await;
            let prefix = api
                .raw(
                    api.http
                        .request(method.clone(), &url)
                        .bearer_auth(&TOKEN[..TOKEN.len() - 1]),
                )
                .await;
            if ["/healthz", "/livez", "/readyz"].contains(path) {
                assert_eq!(missing.0, StatusCode::OK, "{path}");
                continue;
            }
            for answer in [missing, wrong, prefix] {
                assert_error(&answer, StatusCode::UNAUTHORIZED, None);
            }
        }
    }
    // Nothing changed.
    assert_eq!(scalar(&t, "select count(*) from pgtide.audit_log").await, 0);
    assert_eq!(scalar(&t, "select count(*) from pgtide.queues").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_as_documented() {
    let t = test_db().await;
    t.client()
        .await
        .unwrap()
        .batch_execute(
            "select pgtide.create_task('doc', 'noop', every => interval '1 hour');
             insert into pgtide.executions (handler, status, idempotency_key, finished_at)
                  values ('x', 'dead', 'd1', now());
             select pgtide.enqueue('x', idempotency_key => 'q1');",
        )
        .await
        .unwrap();
    let dead_id: i64 = common::one(
        &t,
        "select id from pgtide.executions where idempotency_key = 'd1'",
        &[],
    )
    .await;
    let queued_id: i64 = common::one(
        &t,
        "select id from pgtide.executions where idempotency_key = 'q1'",
        &[],
    )
    .await;
    let api = Api::start(&t, None).await;
    let (_, doc) = api.call(Method::GET, "/api/openapi.json", None).await;
    assert_eq!(doc["openapi"], "3.0.3");
    let mut calls = 0;
    // Deletes last, so the other operations still find the task.
    let mut operations: Vec<(String, String, Value)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .iter()
                .filter(|(m, _)| *m != "parameters")
                .map(|(m, op)| (path.clone(), m.clone(), op.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    operations.sort_by_key(|(_, m, _)| m == "delete");
    for (path, method, op) in operations {
        let id = if path.ends_with("/cancel") {
            queued_id.to_string()
        } else if path.starts_with("/api/jobs") {
            dead_id.to_string()
        } else {
            "doc".into()
        };
        let concrete = path.replace("{id}", &id).replace("{queue}", "default");
        let body = match (path.as_str(), method.as_str()) {
            ("/api/tasks", "post") => {
                Some(json!({"name": "doc2", "handler": "noop", "every": "1h"}))
            }
            ("/api/jobs", "post") => Some(json!({"handler": "noop"})),
            ("/api/queues/{queue}/limit", _) => Some(json!({"concurrency_limit": 2})),
            ("/api/queues/{queue}/key-limit", _) => Some(json!({"concurrency_limit": 2})),
            ("/api/queues/{queue}/rate-limit", _) => Some(json!({"max_starts": 10, "per": "1s"})),
            _ => None,
        };
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, answer) = api.call(method.clone(), &concrete, body).await;
        let documented: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
        assert!(
            documented.contains(&&status.as_u16().to_string()),
            "{method} {concrete} answered {status} ({answer}); documented: {documented:?}"
        );
        assert!(
            status.is_success(),
            "{method} {concrete}: {status} {answer}"
        );
        calls += 1;
        // A method the document does not list for this path is refused.
        for other in [Method::PUT, Method::PATCH] {
            let (status, _) = api.call(other.clone(), &concrete, None).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{other} {concrete}");
        }
    }
    assert_eq!(
        calls,
        pgtide::http::ROUTES
            .iter()
            .map(|(_, m)| m.len())
            .sum::<usize>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_healthz_report_from_the_database_and_the_worker() {
    let t = test_db().await;
    let worker = RunningWorker::start(
        &t,
        registry(vec![("boom", Arc::new(Permanent))]),
        pgtide::WorkerConfig {
            queues: vec!["metrics-q".into()],
            ..quick_config(2)
        },
    );
    let api = Api::start(&t, Some(worker.worker.clone())).await;
    for n in 0..3 {
        pgtide::enqueue(
            &t,
            &pgtide::NewJob::new("noop")
                .queue("metrics-q")
                .idempotency_key(format!("ok-{n}")),
        )
        .await
        .unwrap();
    }
    pgtide::enqueue(
        &t,
        &pgtide::NewJob::new("boom")
            .queue("metrics-q")
            .idempotency_key("bad"),
    )
    .await
    .unwrap();
    wait_until(Duration::from_secs(10), "all four to finish", || async {
        scalar(
            &t,
            "select count(*) from pgtide.executions where status in ('succeeded', 'dead')",
        )
        .await
            == 4
    })
    .await;
    // Leave work due in another queue for the depth gauge.
    pgtide::enqueue(&t, &pgtide::NewJob::new("noop").queue("idle-q"))
        .await
        .unwrap();
    wait_until(Duration::from_secs(5), "the LISTEN connection", || async {
        worker.worker.is_listening()
    })
    .await;

    let response = api
        .http
        .get(format!("{}/metrics", api.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let line = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in:\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        line(
            r#"pgtide_executions_finished_total{queue="metrics-q",handler="noop",outcome="succeeded"}"#
        ),
        3.0
    );
    assert_eq!(
        line(
            r#"pgtide_executions_finished_total{queue="metrics-q",handler="boom",outcome="dead"}"#
        ),
        1.0
    );
    assert!(line(r#"pgtide_pickup_latency_seconds_count{queue="metrics-q"}"#) >= 4.0);
    assert!(
        line(r#"pgtide_execution_duration_seconds_count{queue="metrics-q",handler="noop"}"#) >= 3.0
    );
    assert_eq!(line(r#"pgtide_queue_depth{queue="idle-q"}"#), 1.0);
    assert!(line(r#"pgtide_queue_oldest_due_age_seconds{queue="idle-q"}"#) >= 0.0);
    assert_eq!(line(r#"pgtide_queue_dead_letters{queue="metrics-q"}"#), 1.0);
    assert!(line("pgtide_workers_live") >= 1.0);

    let (status, health) = api.call(Method::GET, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        health,
        json!({"status": "ok", "database": "ok", "listener": "ok"})
    );
    worker.stop().await;
    let (status, health) = api.call(Method::GET, "/healthz", None).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a stopped worker's LISTEN is down"
    );
    assert_eq!(health["listener"], "down (polling)");
}

#[tokio::test]
async fn the_server_refuses_a_public_address_without_a_token() {
    let t = test_db().await;
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let state = ApiState::new(t.db.clone(), None, None);
    let e = pgtide::web::serve(listener, App::new(state), CancellationToken::new())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("PGTIDE_API_TOKEN"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_and_rate_limit_routes_set_show_and_refuse_bad_input() {
    let t = test_db().await;
    let api = Api::start(&t, None).await;
    for (key, n) in [("acme", 3), ("globex", 1)] {
        for i in 0..n {
            let (status, answer) = api
                .call(
                    Method::POST,
                    "/api/jobs",
                    Some(
                        json!({"handler": "noop", "queue": "shared", "concurrency_key": key,
                                "idempotency_key": format!("{key}-{i}")}),
                    ),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
        }
    }
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where concurrency_key = 'acme'"
        )
        .await,
        3
    );

    let (status, _) = api
        .call(
            Method::POST,
            "/api/queues/shared/key-limit",
            Some(json!({"concurrency_limit": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api
        .call(
            Method::POST,
            "/api/queues/shared/key-limit",
            Some(json!({"concurrency_limit": 5, "concurrency_key": "acme"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api
        .call(
            Method::POST,
            "/api/queues/shared/rate-limit",
            Some(json!({"max_starts": 30, "per": "1m", "per_key": true})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, queues) = api.call(Method::GET, "/api/queues", None).await;
    let shared = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "shared")
        .unwrap();
    assert_eq!(shared["key_concurrency_limit"], 2, "{shared}");
    assert_eq!(shared["key_limit_overrides"], 1, "{shared}");
    assert_eq!(shared["rate_max_starts"], 30, "{shared}");
    assert_eq!(shared["rate_per"], "00:01:00", "{shared}");
    assert_eq!(shared["rate_per_key"], true, "{shared}");

    let (status, keys) = api.call(Method::GET, "/api/queues/shared/keys", None).await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0]["concurrency_key"], "acme", "the most waiting first");
    assert_eq!(keys[0]["queued"], 3);
    assert_eq!(keys[0]["concurrency_limit"], 5, "the key's own cap");
    assert_eq!(keys[1]["concurrency_key"], "globex");
    assert_eq!(keys[1]["concurrency_limit"], 2, "the queue's key limit");

    // Bad input: a 400 naming the field, and nothing changes.
    let before = scalar(&t, "select count(*) from pgtide.audit_log").await;
    for (path, body, field) in [
        (
            "key-limit",
            json!({"concurrency_limit": 0}),
            "concurrency_limit",
        ),
        (
            "key-limit",
            json!({"concurrency_limit": 1, "concurrency_key": "k".repeat(201)}),
            "concurrency_key",
        ),
        (
            "rate-limit",
            json!({"max_starts": 0, "per": "1s"}),
            "max_starts",
        ),
        ("rate-limit", json!({"max_starts": 5, "per": "0s"}), "per"),
        ("rate-limit", json!({"max_starts": 5}), "per"),
    ] {
        assert_error(
            &api.call(
                Method::POST,
                &format!("/api/queues/shared/{path}"),
                Some(body),
            )
            .await,
            StatusCode::BAD_REQUEST,
            Some(field),
        );
    }
    assert_error(
        &api.call(
            Method::POST,
            "/api/jobs",
            Some(json!({"handler": "noop", "concurrency_key": ""})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        Some("concurrency_key"),
    );
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.audit_log").await,
        before,
        "a refused change writes nothing"
    );
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.queues
              where name = 'shared' and key_concurrency_limit = 2 and rate_max_starts = 30"
        )
        .await,
        1
    );
    // Each change was audited with the surface http.
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.audit_log
              where action in ('queue.key_limit', 'queue.rate_limit') and surface = 'http'"
        )
        .await,
        3
    );
}

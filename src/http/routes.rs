//! The route handlers. Each validates its path and body, calls one [`Admin`] method, and answers
//! JSON; extractor rejections are turned into the API's JSON errors, never axum's plain text.

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::{
        rejection::{JsonRejection, PathRejection, QueryRejection},
        Path, Query, State,
    },
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{ApiError, ApiState, OPENAPI};
use crate::admin::{
    Admin, Execution, JobDetail, JobFilter, JobSpec, KeyStat, Queue, Task, TaskSpec,
};

type ApiResult<T> = Result<T, ApiError>;

/// Longest task or queue name, as the SQL functions enforce.
const MAX_NAME: usize = 200;

fn segment(path: Result<Path<String>, PathRejection>, field: &str) -> ApiResult<String> {
    let Path(value) = path.map_err(|e| ApiError::invalid(field, e.body_text()))?;
    if value.is_empty() || value.chars().count() > MAX_NAME || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!(
                "invalid {field} {value:?}: expected 1 to {MAX_NAME} characters without control characters"
            ),
        ));
    }
    Ok(value)
}

fn body<T>(body: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    body.map(|Json(v)| v).map_err(ApiError::from)
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    query.map(|Query(v)| v).map_err(ApiError::from)
}

/// A task addressed by id (all digits) or by name.
async fn task_name(admin: &Admin, path: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    let id = segment(path, "id")?;
    if id.bytes().all(|b| b.is_ascii_digit()) {
        let number: i64 = id.parse().map_err(|_| {
            ApiError::invalid(
                "id",
                format!("invalid id {id:?}: expected a task id or name"),
            )
        })?;
        return Ok(admin.task_name(number).await?);
    }
    Ok(id)
}

fn execution_id(path: Result<Path<String>, PathRejection>) -> ApiResult<i64> {
    let id = segment(path, "id")?;
    id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::invalid(
            "id",
            format!("invalid id {id:?}: expected a positive integer execution id"),
        )
    })
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see /api/openapi.json",
    )
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route; see /api/openapi.json",
    )
}

pub(super) async fn list_tasks(State(s): State<ApiState>) -> ApiResult<Json<Vec<Task>>> {
    Ok(Json(s.admin.tasks().await?))
}

pub(super) async fn create_task(
    State(s): State<ApiState>,
    spec: Result<Json<TaskSpec>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Task>)> {
    let spec = body(spec)?;
    s.admin.create_task(&spec).await?;
    Ok((StatusCode::CREATED, Json(s.admin.task(&spec.name).await?)))
}

pub(super) async fn get_task(
    State(s): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Task>> {
    let name = task_name(&s.admin, path).await?;
    Ok(Json(s.admin.task(&name).await?))
}

pub(super) async fn delete_task(
    State(s): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    let name = task_name(&s.admin, path).await?;
    s.admin.delete_task(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn pause_task(
    State(s): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Task>> {
    let name = task_name(&s.admin, path).await?;
    s.admin.pause_task(&name).await?;
    Ok(Json(s.admin.task(&name).await?))
}

pub(super) async fn resume_task(
    State(s): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Task>> {
    let name = task_name(&s.admin, path).await?;
    s.admin.resume_task(&name).await?;
    Ok(Json(s.admin.task(&name).await?))
}

/// Optional body of `POST /api/tasks/{id}/trigger`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Trigger {
    #[serde(default)]
    idempotency_key: Option<String>,
}

pub(super) async fn trigger_task(
    State(s): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    raw: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = task_name(&s.admin, path).await?;
    // The body is optional: no body triggers with a generated key.
    let trigger: Trigger = if raw.iter().all(u8::is_ascii_whitespace) {
        Trigger::default()
    } else {
        serde_json::from_slice(&raw).map_err(|e| {
            let text = e.to_string();
            let error = ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", text.clone());
            match super::error::data_error_field(&text) {
                Some(field) => error.with_field(field),
                None => error,
            }
        })?
    };
    let id = s
        .admin
        .trigger_task(&name, trigger.idempotency_key.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "execution_id": id }))))
}

/// `?limit=` of listings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Limit {
    #[serde(default)]
    limit: Option<i64>,
}

pub(super) async fn task_executions(
    State(s): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    limit: Result<Query<Limit>, QueryRejection>,
) -> ApiResult<Json<Vec<Execution>>> {
    let limit = query(limit)?;
    let name = task_name(&s.admin, path).await?;
    // An unknown task is a 404, not an empty list.
    s.admin.task(&name).await?;
    let jobs = s
        .admin
        .jobs(&JobFilter {
            task: Some(name),
            limit: limit.limit,
            ..Default::default()
        })
        .await?;
    Ok(Json(jobs))
}

/// Filters of `GET /api/jobs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JobsQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    handler: Option<String>,
    #[serde(default)]
    task: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

pub(super) async fn list_jobs(
    State(s): State<ApiState>,
    filter: Result<Query<JobsQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<Execution>>> {
    let filter = query(filter)?;
    let jobs = s
        .admin
        .jobs(&JobFilter::from_text(
            filter.status.as_deref(),
            filter.queue.as_deref(),
            filter.handler.as_deref(),
            filter.task.as_deref(),
            filter.limit,
        )?)
        .await?;
    Ok(Json(jobs))
}

pub(super) async fn enqueue(
    State(s): State<ApiState>,
    spec: Result<Json<JobSpec>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = s.admin.enqueue(&body(spec)?).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

pub(super) async fn get_job(
    State(s): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<JobDetail>> {
    let id = execution_id(path)?;
    Ok(Json(s.admin.job(id).await?))
}

pub(super) async fn retry_job(
    State(s): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = execution_id(path)?;
    let new_id = s.admin.retry_dead(id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": new_id, "retry_of": id })),
    ))
}

pub(super) async fn cancel_job(
    State(s): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Value>> {
    let id = execution_id(path)?;
    let previous = s.admin.cancel(id).await?;
    Ok(Json(
        json!({ "id": id, "status": "cancelled", "previous_status": previous }),
    ))
}

pub(super) async fn list_queues(State(s): State<ApiState>) -> ApiResult<Json<Vec<Queue>>> {
    Ok(Json(s.admin.queues().await?))
}

pub(super) async fn pause_queue(
    State(s): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    let queue = segment(path, "queue")?;
    s.admin.pause_queue(&queue).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn resume_queue(
    State(s): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    let queue = segment(path, "queue")?;
    s.admin.resume_queue(&queue).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /api/queues/{queue}/limit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueueLimit {
    concurrency_limit: Option<i32>,
}

pub(super) async fn limit_queue(
    State(s): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    limit: Result<Json<QueueLimit>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let queue = segment(path, "queue")?;
    let limit = body(limit)?;
    s.admin
        .set_queue_limit(&queue, limit.concurrency_limit)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /api/queues/{queue}/key-limit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyLimit {
    concurrency_limit: Option<i32>,
    #[serde(default)]
    concurrency_key: Option<String>,
}

pub(super) async fn key_limit_queue(
    State(s): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    limit: Result<Json<KeyLimit>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let queue = segment(path, "queue")?;
    let limit = body(limit)?;
    s.admin
        .set_key_limit(
            &queue,
            limit.concurrency_limit,
            limit.concurrency_key.as_deref(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /api/queues/{queue}/rate-limit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RateLimit {
    max_starts: Option<i32>,
    #[serde(default, with = "humantime_serde")]
    per: Option<Duration>,
    #[serde(default)]
    per_key: bool,
}

pub(super) async fn rate_limit_queue(
    State(s): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    limit: Result<Json<RateLimit>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let queue = segment(path, "queue")?;
    let limit = body(limit)?;
    s.admin
        .set_rate_limit(&queue, limit.max_starts, limit.per, limit.per_key)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn queue_keys(
    State(s): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    limit: Result<Query<Limit>, QueryRejection>,
) -> ApiResult<Json<Vec<KeyStat>>> {
    let queue = segment(path, "queue")?;
    let limit = query(limit)?;
    Ok(Json(
        s.admin
            .key_stats(Some(&queue), limit.limit.unwrap_or(20))
            .await?,
    ))
}

pub(super) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

pub(super) async fn metrics(State(s): State<ApiState>) -> Response {
    if let Err(e) = s.gauges.refresh(s.admin.db()).await {
        // Serve the counters anyway; the gauges keep their last values.
        tracing::warn!(error = %e, "metrics: could not refresh the database gauges");
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::prometheus().render(),
    )
        .into_response()
}

/// Body of `GET /healthz`.
#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    database: &'static str,
    listener: &'static str,
}

#[derive(Serialize)]
struct Live {
    status: &'static str,
}

/// The process and its runtime answer. No database round trip: a database outage must not get a
/// healthy process restarted.
pub(super) async fn livez() -> Response {
    Json(Live { status: "ok" }).into_response()
}

#[derive(Serialize)]
struct Ready {
    status: &'static str,
    database: &'static str,
    schema: String,
    worker: &'static str,
}

/// Whether this process can do its work: the database answers within 2 s, its schema is the one
/// this binary needs, and the worker (if the process has one) is running. A LISTEN connection that
/// is down while polling works still counts as ready.
pub(super) async fn readyz(State(s): State<ApiState>) -> Response {
    let db = s.admin.db();
    let schema = tokio::time::timeout(Duration::from_secs(2), async {
        s.admin.ping().await?;
        crate::migrate::check_current(db)
            .await
            .map(|()| "current".to_string())
    })
    .await;
    let (database, schema) = match schema {
        Err(_) => ("no answer within 2s", "unknown".to_string()),
        Ok(Err(e @ crate::Error::Invalid { .. })) => ("ok", e.to_string()),
        Ok(Err(_)) => ("unreachable", "unknown".to_string()),
        Ok(Ok(current)) => ("ok", current),
    };
    let worker = match &s.worker {
        None => "no worker in this process",
        Some(w) if w.is_running() => "running",
        Some(_) => "stopped",
    };
    let ready = database == "ok" && schema == "current" && worker != "stopped";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Ready {
        status: if ready { "ready" } else { "not ready" },
        database,
        schema,
        worker,
    };
    (status, Json(body)).into_response()
}

pub(super) async fn healthz(State(s): State<ApiState>) -> Response {
    let database = matches!(
        tokio::time::timeout(Duration::from_secs(2), s.admin.ping()).await,
        Ok(Ok(()))
    );
    // A poll-only worker (`--no-listen`) has no listener to be down.
    let listener = s
        .worker
        .as_ref()
        .filter(|w| w.listens())
        .map(crate::Worker::is_listening);
    let healthy = database && listener != Some(false);
    let health = Health {
        status: if healthy { "ok" } else { "unhealthy" },
        database: if database { "ok" } else { "unreachable" },
        listener: match listener {
            None if s.worker.is_some() => "off (poll-only mode)",
            None => "no worker in this process",
            Some(true) => "ok",
            Some(false) => "down (polling)",
        },
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health)).into_response()
}

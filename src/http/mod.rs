//! The HTTP management API (`pgtide run --http ADDR`): the admin API over JSON, `/metrics` for
//! Prometheus, and probes in Kubernetes' terms: `/livez` (the process answers; no database round
//! trip, so a database outage never gets a healthy pod restarted), `/readyz` (the database answers
//! within 2 s, the schema is current and the worker runs), and `/healthz` (database and LISTEN
//! connection, for load balancers).
//!
//! Every route calls [`crate::admin::Admin`], so it runs the same SQL functions as psql and the CLI,
//! on connections named `pgtide-http` (the audit log's surface). Every route except the probes needs
//! `Authorization: Bearer <PGTIDE_API_TOKEN>`; the server refuses to listen on a non-loopback address
//! without a token. The probes stay open because probes rarely carry credentials, and they reveal
//! only whether the process, the database, the schema and the LISTEN connection are in order.
//!
//! The routes are listed once, in [`ROUTES`]; `src/http/openapi.json` documents them, and a test
//! keeps the two equal and calls every documented operation. [`crate::web`] serves them, beside the
//! console when there is one.

mod error;
mod routes;

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{header, Method},
    middleware::Next,
    response::Response,
    routing::MethodRouter,
    Router,
};
use subtle::ConstantTimeEq;

pub use self::error::ApiError;
pub(crate) use self::routes::{method_not_allowed, not_found};
use crate::{admin::Admin, metrics::Gauges, Database, Worker};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The OpenAPI 3 document served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Every route: path (in OpenAPI's `{param}` form, which axum 0.8 shares) and its methods.
pub const ROUTES: &[(&str, &[Method])] = &[
    ("/api/tasks", &[Method::GET, Method::POST]),
    ("/api/tasks/{id}", &[Method::GET, Method::DELETE]),
    ("/api/tasks/{id}/pause", &[Method::POST]),
    ("/api/tasks/{id}/resume", &[Method::POST]),
    ("/api/tasks/{id}/trigger", &[Method::POST]),
    ("/api/tasks/{id}/executions", &[Method::GET]),
    ("/api/jobs", &[Method::GET, Method::POST]),
    ("/api/jobs/{id}", &[Method::GET]),
    ("/api/jobs/{id}/retry", &[Method::POST]),
    ("/api/jobs/{id}/cancel", &[Method::POST]),
    ("/api/queues", &[Method::GET]),
    ("/api/queues/{queue}/pause", &[Method::POST]),
    ("/api/queues/{queue}/resume", &[Method::POST]),
    ("/api/queues/{queue}/limit", &[Method::POST]),
    ("/api/queues/{queue}/key-limit", &[Method::POST]),
    ("/api/queues/{queue}/rate-limit", &[Method::POST]),
    ("/api/queues/{queue}/keys", &[Method::GET]),
    ("/api/openapi.json", &[Method::GET]),
    ("/metrics", &[Method::GET]),
    ("/healthz", &[Method::GET]),
    ("/livez", &[Method::GET]),
    ("/readyz", &[Method::GET]),
];

/// The routes anyone may call: probes rarely carry credentials, and these reveal only health.
const OPEN_ROUTES: &[&str] = &["/healthz", "/livez", "/readyz"];

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    admin: Admin,
    token: Option<Arc<str>>,
    worker: Option<Worker>,
    gauges: Arc<Gauges>,
}

impl ApiState {
    /// State for a server on `db` (which should be opened with `application_name = pgtide-http`),
    /// requiring `token` when given. `worker` is the process's worker, whose LISTEN connection
    /// `/healthz` reports.
    pub fn new(db: Database, token: Option<String>, worker: Option<Worker>) -> Self {
        // Install the recorder now, so counters from the first job on are kept.
        crate::metrics::prometheus();
        Self {
            admin: Admin::new(db),
            token: token.filter(|t| !t.is_empty()).map(Arc::from),
            worker,
            gauges: Arc::default(),
        }
    }

    /// The token the API requires, if any.
    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

/// The API: every route of [`ROUTES`], the probes open and the rest behind the token check.
/// [`crate::web::App`] adds the fallbacks and the body limit.
pub fn router(state: ApiState) -> Router {
    let mut api = Router::new();
    for (path, _) in ROUTES
        .iter()
        .filter(|(path, _)| !OPEN_ROUTES.contains(path))
    {
        api = api.route(path, handler(path));
    }
    let api = api.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        require_token,
    ));
    let mut app = Router::new();
    for path in OPEN_ROUTES {
        app = app.route(path, handler(path));
    }
    app.merge(api).with_state(state)
}

fn handler(path: &str) -> MethodRouter<ApiState> {
    use axum::routing::{delete, get, post};
    match path {
        "/api/tasks" => get(routes::list_tasks).post(routes::create_task),
        "/api/tasks/{id}" => get(routes::get_task).merge(delete(routes::delete_task)),
        "/api/tasks/{id}/pause" => post(routes::pause_task),
        "/api/tasks/{id}/resume" => post(routes::resume_task),
        "/api/tasks/{id}/trigger" => post(routes::trigger_task),
        "/api/tasks/{id}/executions" => get(routes::task_executions),
        "/api/jobs" => get(routes::list_jobs).post(routes::enqueue),
        "/api/jobs/{id}" => get(routes::get_job),
        "/api/jobs/{id}/retry" => post(routes::retry_job),
        "/api/jobs/{id}/cancel" => post(routes::cancel_job),
        "/api/queues" => get(routes::list_queues),
        "/api/queues/{queue}/pause" => post(routes::pause_queue),
        "/api/queues/{queue}/resume" => post(routes::resume_queue),
        "/api/queues/{queue}/limit" => post(routes::limit_queue),
        "/api/queues/{queue}/key-limit" => post(routes::key_limit_queue),
        "/api/queues/{queue}/rate-limit" => post(routes::rate_limit_queue),
        "/api/queues/{queue}/keys" => get(routes::queue_keys),
        "/api/openapi.json" => get(routes::openapi),
        "/metrics" => get(routes::metrics),
        "/healthz" => get(routes::healthz),
        "/livez" => get(routes::livez),
        "/readyz" => get(routes::readyz),
        other => unreachable!("route {other} is listed in ROUTES without a handler"),
    }
}

async fn require_token(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> std::result::Result<Response, ApiError> {
    if let Some(token) = &state.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            return Err(ApiError::unauthorized());
        }
    }
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_the_openapi_document_agree() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let mut documented: Vec<(String, String)> = paths
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| *k != "parameters")
                    .map(move |m| (path.clone(), m.to_uppercase()))
            })
            .collect();
        let mut routed: Vec<(String, String)> = ROUTES
            .iter()
            .flat_map(|(path, methods)| {
                methods
                    .iter()
                    .map(move |m| (path.to_string(), m.as_str().to_string()))
            })
            .collect();
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed);
    }
}

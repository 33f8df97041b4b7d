//! The web console at `/` of `pgtide run --http`: queues, charts, tasks, executions, dead letters,
//! workers, the audit log and alerts, with buttons for the everyday actions.
//!
//! Pages are rendered on the server with maud; the CSS and the few lines of JS (live refresh, and a
//! confirmation on destructive buttons) are files in `src/console/assets/`, embedded at compile time,
//! so the binary needs no build step and no CDN. Charts are SVG drawn on the server.
//!
//! Every read and every action goes through [`Admin`], on connections named `pgtide-console`, so a
//! click runs the same SQL function as psql, the CLI and the API, and the audit log records the
//! surface `console`. The login and CSRF rules are in its `auth` module.

mod actions;
mod auth;
mod chart;
mod executions;
mod layout;
mod pages;
mod queues;
mod tasks;

use axum::{
    extract::{FromRequestParts, OriginalUri},
    http::{header, request::Parts, HeaderValue},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};

use crate::{admin::Admin, Database};

pub(crate) use self::auth::Keys;

/// The console's share of the server state.
#[derive(Debug, Clone)]
pub struct Console {
    admin: Admin,
    keys: Keys,
}

impl Console {
    /// A console on `db` (open it with `application_name = pgtide-console`, the audit surface),
    /// behind `token` when given.
    pub fn new(db: Database, token: Option<&str>) -> Self {
        Self {
            admin: Admin::new(db),
            keys: Keys::new(token.filter(|t| !t.is_empty())),
        }
    }
}

/// The console's routes, on its own state; [`crate::web::App`] mounts them beside the API's.
pub(crate) fn router(console: Console) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/charts", get(pages::charts))
        .route("/tasks", get(tasks::list))
        .route("/executions", get(executions::list))
        .route("/executions/{id}", get(executions::detail))
        .route("/dead-letters", get(executions::dead_letters))
        .route("/workers", get(pages::workers))
        .route("/audit", get(pages::audit))
        .route("/alerts", get(pages::alerts))
        .route("/login", get(actions::login_form).post(actions::login))
        .route("/logout", post(actions::logout))
        .route("/queues/{queue}", get(queues::detail))
        .route("/queues/{queue}/key-limit", post(actions::key_limit))
        .route("/queues/{queue}/rate-limit", post(actions::rate_limit))
        .route("/queues/{queue}/pause", post(actions::pause_queue))
        .route("/queues/{queue}/resume", post(actions::resume_queue))
        .route("/tasks/{name}/pause", post(actions::pause_task))
        .route("/tasks/{name}/resume", post(actions::resume_task))
        .route("/tasks/{name}/trigger", post(actions::trigger_task))
        .route("/executions/{id}/retry", post(actions::retry))
        .route("/executions/{id}/cancel", post(actions::cancel))
        .route("/dead-letters/retry-all", post(actions::retry_all))
        .route("/assets/console.css", get(css))
        .route("/assets/console.js", get(js))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// No framing, no foreign scripts or styles, no sniffing, no referrers leaving the site.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A logged-in request: the console, the session and its CSRF token. Extracting it from a request
/// without a valid session redirects to the login page.
pub(crate) struct Ctx {
    admin: Admin,
    keys: Keys,
    session: String,
    /// The path and query of this request, for forms to come back to.
    here: String,
}

impl Ctx {
    fn csrf(&self) -> String {
        self.keys.csrf(&self.session)
    }
}

impl FromRequestParts<Console> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Console,
    ) -> Result<Self, Self::Rejection> {
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |u| u.0.clone());
        let here = uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string());
        let Some(session) = console.keys.session(&parts.headers) else {
            if parts.method == axum::http::Method::GET {
                let next = serde_urlencoded::to_string([("next", &here)]).unwrap_or_default();
                return Err(Redirect::to(&format!("/login?{next}")).into_response());
            }
            return Err(layout::message_page(
                401,
                "Not logged in",
                "log in again: this form was sent without a valid session",
            ));
        };
        Ok(Self {
            admin: console.admin.clone(),
            keys: console.keys.clone(),
            session,
            here,
        })
    }
}

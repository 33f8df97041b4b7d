//! Login, logout and the console's actions. Each action checks the CSRF token first, then calls one
//! [`crate::admin::Admin`] method (so one SQL function, audited with the surface `console`), and
//! answers 303 back to the page it came from with the outcome in a banner.

use std::time::Duration;

use axum::{
    extract::{rejection::FormRejection, Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    Form,
};
use maud::{html, DOCTYPE};
use serde::Deserialize;

use super::{auth, layout, Console, Ctx};

/// Fields of an action's form.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ActionForm {
    #[serde(default)]
    csrf: Option<String>,
    /// The page to come back to.
    #[serde(default)]
    back: Option<String>,
    /// Retry-all: the handler.
    #[serde(default)]
    handler: Option<String>,
    /// Key limit: the cap (empty removes it).
    #[serde(default)]
    concurrency_limit: Option<String>,
    /// Key limit: the key whose own cap it is (empty for every key's).
    #[serde(default)]
    concurrency_key: Option<String>,
    /// Rate limit: most starts per window (empty removes it).
    #[serde(default)]
    max_starts: Option<String>,
    /// Rate limit: the window, as a duration ("1s", "1m").
    #[serde(default)]
    per: Option<String>,
    /// Rate limit: "on" to apply it to each key.
    #[serde(default)]
    per_key: Option<String>,
}

/// A form's text field, trimmed; `None` when empty.
fn field(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// An optional limit typed in a form: empty is `None`, anything else must be an integer.
fn limit_field(name: &'static str, value: Option<&str>) -> crate::Result<Option<i32>> {
    field(value)
        .map(|text| {
            text.parse::<i32>().map_err(|_| {
                crate::Error::invalid(
                    name,
                    format!("{text:?}"),
                    "an integer >= 1, or empty for none",
                )
            })
        })
        .transpose()
}

/// `path` if it is a path on this site, else `/` (never an open redirect).
fn local(path: Option<&str>) -> String {
    match path {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.into(),
        _ => "/".into(),
    }
}

/// 303 to `back` with `key=message` added to its query (and an older outcome dropped).
fn back_with(back: &str, key: &str, message: &str) -> Response {
    let (path, query) = back.split_once('?').unwrap_or((back, ""));
    let mut params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    params.retain(|(k, _)| k != "flash" && k != "error");
    params.push((key.into(), message.into()));
    let query = serde_urlencoded::to_string(&params).unwrap_or_default();
    Redirect::to(&format!("{path}?{query}")).into_response()
}

/// Checks the CSRF token, runs `action`, and answers with its outcome.
async fn act<F>(ctx: &Ctx, form: Result<Form<ActionForm>, FormRejection>, action: F) -> Response
where
    F: AsyncFnOnce(&ActionForm) -> crate::Result<String>,
{
    let form = match form {
        Ok(Form(form)) => form,
        Err(e) => return layout::message_page(400, "Bad form", &e.body_text()),
    };
    if !ctx.keys.csrf_matches(&ctx.session, form.csrf.as_deref()) {
        return layout::message_page(
            403,
            "Forbidden",
            "missing or invalid CSRF token: reload the page and try again",
        );
    }
    let back = local(form.back.as_deref());
    match action(&form).await {
        Ok(done) => back_with(&back, "flash", &done),
        Err(e) => {
            let answer = crate::answer::Answer::from(e);
            back_with(&back, "error", &answer.message)
        }
    }
}

fn id(text: &str) -> crate::Result<i64> {
    text.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        crate::Error::invalid("id", format!("{text:?}"), "a positive integer execution id")
    })
}

pub(super) async fn pause_queue(
    ctx: Ctx,
    Path(queue): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    act(&ctx, form, async |_| {
        ctx.admin.pause_queue(&queue).await?;
        Ok(format!("Paused queue {queue}."))
    })
    .await
}

pub(super) async fn resume_queue(
    ctx: Ctx,
    Path(queue): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    act(&ctx, form, async |_| {
        ctx.admin.resume_queue(&queue).await?;
        Ok(format!("Resumed queue {queue}."))
    })
    .await
}

pub(super) async fn key_limit(
    ctx: Ctx,
    Path(queue): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    act(&ctx, form, async |form| {
        let limit = limit_field("concurrency_limit", form.concurrency_limit.as_deref())?;
        let key = field(form.concurrency_key.as_deref());
        ctx.admin.set_key_limit(&queue, limit, key).await?;
        let whom = key.map_or("each key".to_string(), |k| format!("key {k}"));
        Ok(match limit {
            Some(n) => format!("Queue {queue} runs at most {n} job(s) of {whom} at once."),
            None => format!("Queue {queue} has no limit for {whom}."),
        })
    })
    .await
}

pub(super) async fn rate_limit(
    ctx: Ctx,
    Path(queue): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    act(&ctx, form, async |form| {
        let max_starts = limit_field("max_starts", form.max_starts.as_deref())?;
        let per = field(form.per.as_deref())
            .map(|text| {
                humantime::parse_duration(text).map_err(|_| {
                    crate::Error::invalid("per", format!("{text:?}"), "a duration such as 1s or 1m")
                })
            })
            .transpose()?;
        let per_key = form.per_key.as_deref() == Some("on");
        ctx.admin
            .set_rate_limit(&queue, max_starts, per, per_key)
            .await?;
        Ok(match (max_starts, per) {
            (Some(n), Some(per)) => format!(
                "Queue {queue} starts at most {n} job(s) per {}{}.",
                humantime::format_duration(per),
                if per_key { " for each key" } else { "" }
            ),
            _ => format!("Queue {queue} has no rate limit."),
        })
    })
    .await
}

pub(super) async fn pause_task(
    ctx: Ctx,
    Path(name): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    act(&ctx, form, async |_| {
        ctx.admin.pause_task(&name).await?;
        Ok(format!("Paused task {name}."))
    })
    .await
}

pub(super) async fn resume_task(
    ctx: Ctx,
    Path(name): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    act(&ctx, form, async |_| {
        ctx.admin.resume_task(&name).await?;
        Ok(format!("Resumed task {name}."))
    })
    .await
}

pub(super) async fn trigger_task(
    ctx: Ctx,
    Path(name): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    act(&ctx, form, async |_| {
        let id = ctx.admin.trigger_task(&name, None).await?;
        Ok(format!("Triggered task {name}: execution {id}."))
    })
    .await
}

pub(super) async fn retry(
    ctx: Ctx,
    Path(text): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    act(&ctx, form, async |_| {
        let dead = id(&text)?;
        let new_id = ctx.admin.retry_dead(dead).await?;
        Ok(format!("Requeued dead execution {dead} as {new_id}."))
    })
    .await
}

pub(super) async fn cancel(
    ctx: Ctx,
    Path(text): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    act(&ctx, form, async |_| {
        let target = id(&text)?;
        let previous = ctx.admin.cancel(target).await?;
        Ok(format!(
            "Cancelled execution {target} (it was {}).",
            previous.as_str()
        ))
    })
    .await
}

pub(super) async fn retry_all(ctx: Ctx, form: Result<Form<ActionForm>, FormRejection>) -> Response {
    act(&ctx, form, async |form| {
        let handler = form
            .handler
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                crate::Error::invalid(
                    "handler",
                    "\"\"",
                    "the handler whose dead letters to requeue",
                )
            })?;
        let requeued = ctx.admin.retry_dead_all(Some(handler)).await?;
        Ok(format!(
            "Requeued {} dead letter(s) of {handler}.",
            requeued.len()
        ))
    })
    .await
}

/// `?next=` of the login page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Next {
    #[serde(default)]
    next: Option<String>,
}

fn login_page(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "pgtide · log in" }
                link rel="stylesheet" href="/assets/console.css";
            }
            body.narrow {
                main.login {
                    h1 { "pgtide" }
                    p { "Log in with the API token (" code { "PGTIDE_API_TOKEN" } ")." }
                    @if let Some(error) = error { div.banner.error role="alert" { (error) } }
                    form method="post" action="/login" {
                        input type="hidden" name="next" value=(next);
                        label { "Token " input #token type="password" name="token" autocomplete="current-password" required autofocus; }
                        button.primary type="submit" { "Log in" }
                    }
                }
            }
        }
    };
    (status, Html(body.into_string())).into_response()
}

pub(super) async fn login_form(
    State(console): State<Console>,
    query: Result<Query<Next>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = local(query.ok().and_then(|q| q.0.next).as_deref());
    if console.keys.needs_login() {
        login_page(StatusCode::OK, &next, None)
    } else {
        Redirect::to(&next).into_response()
    }
}

/// The login form's fields.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Login {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: Option<String>,
}

pub(super) async fn login(
    State(console): State<Console>,
    form: Result<Form<Login>, FormRejection>,
) -> Response {
    let Login { token, next } = form.map(|f| f.0).unwrap_or_default();
    let next = local(next.as_deref());
    if !console.keys.needs_login() {
        return Redirect::to(&next).into_response();
    }
    if !console.keys.token_matches(&token) {
        // Slow down guessing; the comparison itself is constant-time.
        tokio::time::sleep(Duration::from_millis(300)).await;
        tracing::warn!("console: a login with a wrong token was refused");
        return login_page(StatusCode::UNAUTHORIZED, &next, Some("Wrong token."));
    }
    let mut response = Redirect::to(&next).into_response();
    if let Ok(cookie) = auth::set_cookie(&console.keys.new_session()).parse() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

pub(super) async fn logout(ctx: Ctx, form: Result<Form<ActionForm>, FormRejection>) -> Response {
    let csrf = form.ok().and_then(|f| f.0.csrf);
    if !ctx.keys.csrf_matches(&ctx.session, csrf.as_deref()) {
        return layout::message_page(
            403,
            "Forbidden",
            "missing or invalid CSRF token: reload the page and try again",
        );
    }
    let mut headers = HeaderMap::new();
    if let Ok(cookie) = auth::clear_cookie().parse() {
        headers.insert(header::SET_COOKIE, cookie);
    }
    (headers, Redirect::to("/login")).into_response()
}

//! The page shell (navigation, the alerts banner, the outcome of the last action, live refresh) and
//! the small formatting helpers every page shares.

use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};

use super::Ctx;

const NAV: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/charts", "Charts"),
    ("/tasks", "Tasks"),
    ("/executions", "Executions"),
    ("/dead-letters", "Dead letters"),
    ("/workers", "Workers"),
    ("/audit", "Audit log"),
    ("/alerts", "Alerts"),
];

/// A full page: `content` inside the shell, with the alerts banner and the last action's outcome.
pub(super) async fn page(ctx: &Ctx, title: &str, content: Markup) -> Response {
    let alerts = ctx.admin.alerts().await.unwrap_or_default();
    let query = ctx.here.split_once('?').map_or("", |(_, q)| q);
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let path = ctx.here.split('?').next().unwrap_or("/");
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "pgtide · " (title) }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                header {
                    a.brand href="/" { "pgtide" }
                    nav {
                        @for (href, label) in NAV {
                            a href=(href) class=[(*href == path).then_some("current")] { (label) }
                        }
                    }
                    @if ctx.keys.needs_login() {
                        form.logout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(ctx.csrf());
                            button type="submit" { "Log out" }
                        }
                    }
                }
                div #live {
                    @if !alerts.is_empty() {
                        div.banner.firing role="alert" {
                            a href="/alerts" { strong { (alerts.len()) " alert" @if alerts.len() != 1 { "s" } " firing" } }
                            ul {
                                @for a in &alerts {
                                    li { strong { (a.rule) } " (" (a.subject) "): " (a.message) " · since " (ago(a.since)) }
                                }
                            }
                        }
                    }
                    @if let Some(flash) = param("flash") {
                        div.banner.done role="status" { (flash) }
                    }
                    @if let Some(error) = param("error") {
                        div.banner.error role="alert" { (error) }
                    }
                    main {
                        h1 { (title) }
                        (content)
                    }
                    footer {
                        "Updated " span.updated { (Utc::now().format("%H:%M:%S UTC")) }
                    }
                }
                div.live-toggle {
                    label { input #live-refresh type="checkbox" checked; " live refresh" }
                }
            }
        }
    };
    Html(body.into_string()).into_response()
}

/// A page with one message and no navigation (login errors, CSRF refusals).
pub(super) fn message_page(status: u16, title: &str, text: &str) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "pgtide · " (title) }
                link rel="stylesheet" href="/assets/console.css";
            }
            body.narrow {
                main {
                    h1 { (title) }
                    p.message { (text) }
                    p { a href="/" { "Back to the console" } }
                }
            }
        }
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Html(body.into_string())).into_response()
}

/// A page for an admin error: its status and message, as the API would answer.
pub(super) fn error_page(error: crate::Error) -> Response {
    let answer = crate::answer::Answer::from(error);
    message_page(answer.status.as_u16(), "Error", &answer.message)
}

/// A one-button form posting to `action` with the CSRF token and a way back to `back`.
pub(super) fn button(
    ctx: &Ctx,
    action: &str,
    label: &str,
    class: &str,
    confirm: Option<&str>,
) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            input type="hidden" name="csrf" value=(ctx.csrf());
            input type="hidden" name="back" value=(ctx.here);
            button type="submit" class=(class) data-confirm=[confirm] { (label) }
        }
    }
}

/// "3 s ago", "5 min ago", "2 h ago", "4 d ago".
pub(super) fn ago(t: DateTime<Utc>) -> String {
    let secs = (Utc::now() - t).num_seconds();
    if secs < 0 {
        return format!("in {}", span(-secs as f64));
    }
    format!("{} ago", span(secs as f64))
}

/// A span of seconds in the largest fitting unit.
pub(super) fn span(secs: f64) -> String {
    match secs {
        s if s < 1.0 => format!("{:.0} ms", s * 1000.0),
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7200.0 => format!("{:.0} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.0} h", s / 3600.0),
        s => format!("{:.0} d", s / 86400.0),
    }
}

/// A time as `2026-11-21 10:04:05`, UTC.
pub(super) fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// The status as a coloured label.
pub(super) fn status(status: &str) -> Markup {
    html! { span class={ "status " (status) } { (status) } }
}

//! The overview, charts, workers, audit log and alerts pages.

use std::time::Duration;

use axum::response::Response;
use chrono::Utc;
use maud::html;

use super::{
    chart,
    layout::{self, ago, button, span, status, when},
    Ctx,
};

const HOUR: Duration = Duration::from_secs(3600);

pub(super) async fn overview(ctx: Ctx) -> Response {
    let (queues, minutes, workers, leaders) = match tokio::try_join!(
        ctx.admin.queues(),
        ctx.admin.queue_minutes(HOUR),
        ctx.admin.workers(),
        ctx.admin.leaders(),
    ) {
        Ok(all) => all,
        Err(e) => return layout::error_page(e),
    };
    let now = Utc::now();
    let live = workers.iter().filter(|w| w.live).count();
    let leader = leaders.iter().find(|l| l.name == "maintenance" && l.held);
    let content = html! {
        p.summary {
            (queues.len()) " queues · "
            a href="/workers" { (live) " live worker" @if live != 1 { "s" } }
            " · leader: "
            @match leader {
                Some(l) => code { (l.holder) },
                None => span.warn { "none" },
            }
        }
        @if queues.is_empty() {
            p.empty { "No queues yet: enqueue a job or create a task." }
        } @else {
            table.queues {
                thead { tr {
                    th { "queue" } th { "state" } th.n { "scheduled" } th.n { "queued" } th.n { "running" }
                    th.n { "succeeded" } th.n { "failed" } th.n { "dead" } th.n { "cancelled" }
                    th.n { "oldest due" } th.n { "done / 1 h" } th.n { "failed / 1 h" } th { "last hour" } th {}
                } }
                tbody {
                    @for q in &queues {
                        @let b = chart::buckets(&minutes, &q.queue, now);
                        @let done: i64 = b.iter().map(|(s, f)| s + f).sum();
                        @let failed: i64 = b.iter().map(|(_, f)| f).sum();
                        tr data-queue=(q.queue) {
                            td { a href={ "/queues/" (urlencode(&q.queue)) } { (q.queue) } }
                            td { @if q.paused { span.status.paused { "paused" } } @else { span.status.active { "active" } } }
                            td.n { (q.scheduled) } td.n { (q.queued) } td.n { (q.running) }
                            td.n { (q.succeeded) } td.n { (q.failed) } td.n { (q.dead) } td.n { (q.cancelled) }
                            td.n { (q.oldest_due_secs.map_or("-".into(), span)) }
                            td.n { (done) }
                            td.n { @if done > 0 { (format!("{:.1}%", 100.0 * failed as f64 / done as f64)) } @else { "-" } }
                            td { (chart::sparkline(&b)) }
                            td {
                                @if q.paused {
                                    (button(&ctx, &format!("/queues/{}/resume", urlencode(&q.queue)), "Resume", "", None))
                                } @else {
                                    (button(&ctx, &format!("/queues/{}/pause", urlencode(&q.queue)), "Pause", "warn", None))
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page(&ctx, "Overview", content).await
}

pub(super) async fn charts(ctx: Ctx) -> Response {
    let (queues, minutes) =
        match tokio::try_join!(ctx.admin.queues(), ctx.admin.queue_minutes(HOUR)) {
            Ok(all) => all,
            Err(e) => return layout::error_page(e),
        };
    let now = Utc::now();
    let content = html! {
        p.legend { span.key.ok {} " succeeded " span.key.failed {} " failed (a retry follows) or dead, per minute over the last hour" }
        @if queues.is_empty() { p.empty { "No queues yet." } }
        div.charts {
            @for q in &queues {
                @let b = chart::buckets(&minutes, &q.queue, now);
                @let done: i64 = b.iter().map(|(s, f)| s + f).sum();
                @let failed: i64 = b.iter().map(|(_, f)| f).sum();
                section.chart-card {
                    h2 { (q.queue) @if q.paused { " " span.status.paused { "paused" } } }
                    p.caption { (done) " finished, " (failed) " failed in the last hour" }
                    (chart::bars(&b, &format!("{}: attempts per minute", q.queue)))
                }
            }
        }
    };
    layout::page(&ctx, "Charts", content).await
}

pub(super) async fn workers(ctx: Ctx) -> Response {
    let (workers, leaders) = match tokio::try_join!(ctx.admin.workers(), ctx.admin.leaders()) {
        Ok(all) => all,
        Err(e) => return layout::error_page(e),
    };
    let content = html! {
        h2 { "Leader" }
        @if leaders.is_empty() { p.empty { "No process has led maintenance yet." } }
        @else {
            table { thead { tr { th { "lease" } th { "holder" } th { "since" } th { "expires" } th { "state" } } }
                tbody { @for l in &leaders { tr {
                    td { (l.name) } td { code { (l.holder) } } td { (ago(l.acquired_at)) } td { (ago(l.expires_at)) }
                    td { @if l.held { span.status.active { "held" } } @else { span.status.dead { "expired" } } }
                } } }
            }
        }
        h2 { "Workers" }
        @if workers.is_empty() { p.empty { "No worker has registered." } }
        @else {
            table.workers { thead { tr {
                th { "worker" } th { "host" } th.n { "pid" } th { "queues" } th.n { "concurrency" } th.n { "running" }
                th { "started" } th { "last heartbeat" } th { "state" }
            } }
            tbody { @for w in &workers { tr {
                td { code { (w.id) } } td { (w.host) } td.n { (w.pid) } td { (w.queues.join(", ")) }
                td.n { (w.concurrency) } td.n { (w.running) } td { (ago(w.started_at)) }
                td { (span(w.heartbeat_age_secs)) " ago" }
                td { @if w.live { span.status.active { "live" } } @else { span.status.dead { "silent" } } }
            } } } }
        }
    };
    layout::page(&ctx, "Workers", content).await
}

/// `?surface=` of the audit page.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct AuditQuery {
    #[serde(default)]
    surface: Option<String>,
}

pub(super) async fn audit(
    ctx: Ctx,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let query = query.map(|q| q.0).unwrap_or_default();
    let surface = query.surface.as_deref().filter(|s| !s.is_empty());
    let entries = match ctx.admin.audit(surface, Some(200)).await {
        Ok(entries) => entries,
        Err(e) => return layout::error_page(e),
    };
    let content = html! {
        form.filters method="get" action="/audit" {
            label { "surface " select name="surface" {
                option value="" { "any" }
                @for s in ["console", "http", "cli", "sql", "runtime"] {
                    option value=(s) selected[surface == Some(s)] { (s) }
                }
            } }
            button type="submit" { "Filter" }
        }
        table.audit { thead { tr { th { "when" } th { "who" } th { "surface" } th { "action" } th { "object" } th { "change" } } }
            tbody { @for e in &entries { tr {
                td title=(when(Some(e.at))) { (ago(e.at)) } td { (e.actor) } td { span.surface { (e.surface) } }
                td { code { (e.action) } } td { (e.object_type) " " code { (e.object_id) } }
                td.change { (change(e.old.as_ref(), e.new.as_ref())) }
            } } }
        }
    };
    layout::page(&ctx, "Audit log", content).await
}

/// `key: old → new` for the keys an audit entry changed.
fn change(old: Option<&serde_json::Value>, new: Option<&serde_json::Value>) -> String {
    let short = |v: Option<&serde_json::Value>| {
        let text = v.map_or("-".to_string(), |v| v.to_string());
        if text.chars().count() > 60 {
            format!("{}…", text.chars().take(57).collect::<String>())
        } else {
            text
        }
    };
    match (
        old.and_then(|v| v.as_object()),
        new.and_then(|v| v.as_object()),
    ) {
        (Some(o), Some(n)) => n
            .keys()
            .chain(o.keys().filter(|k| !n.contains_key(*k)))
            .map(|k| format!("{k}: {} → {}", short(o.get(k)), short(n.get(k))))
            .collect::<Vec<_>>()
            .join("; "),
        _ => format!("{} → {}", short(old), short(new)),
    }
}

pub(super) async fn alerts(ctx: Ctx) -> Response {
    let (firing, events) =
        match tokio::try_join!(ctx.admin.alerts(), ctx.admin.alert_events(Some(100))) {
            Ok(all) => all,
            Err(e) => return layout::error_page(e),
        };
    let content = html! {
        h2 { "Firing" }
        @if firing.is_empty() { p.empty { "No alert is firing." } }
        @else {
            table { thead { tr { th { "rule" } th { "kind" } th { "subject" } th { "since" } th { "message" } } }
                tbody { @for a in &firing { tr {
                    td { strong { (a.rule) } } td { (a.kind) } td { (a.subject) } td { (ago(a.since)) } td { (a.message) }
                } } }
            }
        }
        h2 { "Events" }
        p.caption { "Rules live in pgtide.toml under [alerts]; the maintenance leader evaluates them." }
        @if events.is_empty() { p.empty { "No alert has fired yet." } }
        @else {
            table { thead { tr { th { "when" } th { "state" } th { "rule" } th { "subject" } th { "message" } th { "deliveries" } } }
                tbody { @for e in &events { tr {
                    td title=(when(Some(e.at))) { (ago(e.at)) } td { (status(&e.state)) } td { (e.rule) } td { (e.subject) }
                    td { (e.message) }
                    td { @for d in &e.deliveries {
                        span class={ "delivery " (d["status"].as_str().unwrap_or("")) }
                            title=(d["last_error"].as_str().unwrap_or("")) {
                            (d["webhook"].as_str().unwrap_or("?")) ": " (d["status"].as_str().unwrap_or("?"))
                        } " "
                    } }
                } } }
            }
        }
    };
    layout::page(&ctx, "Alerts", content).await
}

/// Percent-encodes a path segment or query value.
pub(super) fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .unwrap_or_default()
        .trim_start_matches('=')
        .replace('+', "%20")
}

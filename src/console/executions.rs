//! Executions: the filtered list, one execution with its whole retry chain, and the dead letters
//! with retry one and retry all of a handler.

use axum::{
    extract::{Path, Query},
    response::Response,
};
use maud::{html, Markup};

use super::{
    layout::{self, ago, button, status, when},
    Ctx,
};
use crate::admin::{Execution, JobFilter};

/// Filters of the executions page.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct Filters {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    handler: Option<String>,
    #[serde(default)]
    task: Option<String>,
}

/// The buttons an execution in `status` offers.
fn actions(ctx: &Ctx, e: &Execution) -> Markup {
    html! {
        @if e.status == "dead" {
            (button(ctx, &format!("/executions/{}/retry", e.id), "Retry", "primary", None))
        }
        @if matches!(e.status.as_str(), "scheduled" | "queued" | "running") {
            (button(ctx, &format!("/executions/{}/cancel", e.id), "Cancel", "danger",
                Some("Cancel this execution? A running handler finishes, but its outcome is dropped.")))
        }
    }
}

fn table(ctx: &Ctx, jobs: &[Execution]) -> Markup {
    html! {
        table.executions {
            thead { tr { th.n { "id" } th { "queue" } th { "handler" } th { "task" } th { "status" } th.n { "attempt" } th { "due" } th { "finished" } th { "error" } th {} } }
            tbody { @for e in jobs { tr data-id=(e.id) {
                td.n { a href={ "/executions/" (e.id) } { (e.id) } }
                td { (e.queue) } td { code { (e.handler) } } td { (e.task_name.as_deref().unwrap_or("-")) }
                td { (status(&e.status)) } td.n { (e.attempt) "/" (e.max_attempts) }
                td title=(when(Some(e.visible_at))) { (ago(e.visible_at)) }
                td { @if let Some(f) = e.finished_at { span title=(when(Some(f))) { (ago(f)) } } @else { "-" } }
                td.error-text { (e.error.as_deref().map(|s| s.lines().next().unwrap_or_default()).unwrap_or("")) }
                td.actions { (actions(ctx, e)) }
            } } }
        }
    }
}

pub(super) async fn list(
    ctx: Ctx,
    query: Result<Query<Filters>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let filters = query.map(|q| q.0).unwrap_or_default();
    let filter = match JobFilter::from_text(
        filters.status.as_deref(),
        filters.queue.as_deref(),
        filters.handler.as_deref(),
        filters.task.as_deref(),
        Some(200),
    ) {
        Ok(filter) => filter,
        Err(e) => return layout::error_page(e),
    };
    let status_filter = filter.status;
    let jobs = match ctx.admin.jobs(&filter).await {
        Ok(jobs) => jobs,
        Err(e) => return layout::error_page(e),
    };
    let content = html! {
        form.filters method="get" action="/executions" {
            label { "status " select name="status" {
                option value="" { "any" }
                @for s in crate::ExecutionStatus::ALL.map(crate::ExecutionStatus::as_str) { option value=(s) selected[status_filter.map(|f| f.as_str()) == Some(s)] { (s) } }
            } }
            label { "queue " input type="text" name="queue" value=[filter.queue.as_deref()]; }
            label { "handler " input type="text" name="handler" value=[filter.handler.as_deref()]; }
            label { "task " input type="text" name="task" value=[filter.task.as_deref()]; }
            button type="submit" { "Filter" }
        }
        p.caption { (jobs.len()) " shown, newest first (at most 200)" }
        (table(&ctx, &jobs))
    };
    layout::page(&ctx, "Executions", content).await
}

pub(super) async fn detail(ctx: Ctx, Path(id): Path<String>) -> Response {
    let Some(id) = id.parse::<i64>().ok().filter(|n| *n > 0) else {
        return layout::message_page(
            400,
            "Bad id",
            &format!("invalid id {id:?}: expected a positive integer execution id"),
        );
    };
    let job = match ctx.admin.job(id).await {
        Ok(job) => job,
        Err(e) => return layout::error_page(e),
    };
    let e = &job.execution;
    let pretty = |v: &Option<serde_json::Value>| {
        v.as_ref().map_or("-".into(), |v| {
            serde_json::to_string_pretty(v).unwrap_or_default()
        })
    };
    let content = html! {
        div.actions { (actions(&ctx, e)) }
        dl.fields {
            dt { "status" } dd { (status(&e.status)) }
            dt { "queue" } dd { (e.queue) }
            dt { "handler" } dd { code { (e.handler) } }
            dt { "task" } dd { (e.task_name.as_deref().unwrap_or("-")) }
            dt { "attempt" } dd { (e.attempt) " of " (e.max_attempts) }
            dt { "idempotency key" } dd { code { (e.idempotency_key) } }
            dt { "due" } dd { (when(Some(e.visible_at))) }
            dt { "started" } dd { (when(e.started_at)) }
            dt { "finished" } dd { (when(e.finished_at)) }
            dt { "worker" } dd { (e.worker_id.as_deref().unwrap_or("-")) }
        }
        @if let Some(error) = &e.error { h2 { "Error" } pre.error-text { (error) } }
        h2 { "Payload" } pre { (pretty(&e.payload)) }
        h2 { "Result" } pre { (pretty(&e.result)) }
        h2 { "Retry chain" }
        table.chain {
            thead { tr { th.n { "id" } th.n { "attempt" } th { "status" } th { "started" } th { "finished" } th { "error" } th { "result" } } }
            tbody { @for c in &job.chain { tr class=[(c.id == e.id).then_some("current")] {
                td.n { a href={ "/executions/" (c.id) } { (c.id) } } td.n { (c.attempt) } td { (status(&c.status)) }
                td { (when(c.started_at)) } td { (when(c.finished_at)) }
                td.error-text { (c.error.as_deref().unwrap_or("")) }
                td { code { (c.result.as_ref().map(|r| r.to_string()).unwrap_or_default()) } }
            } } }
        }
    };
    layout::page(&ctx, &format!("Execution {id}"), content).await
}

pub(super) async fn dead_letters(ctx: Ctx) -> Response {
    let dead = match ctx.admin.dead_letters(None, None, Some(500)).await {
        Ok(dead) => dead,
        Err(e) => return layout::error_page(e),
    };
    let mut handlers: Vec<(&str, usize)> = Vec::new();
    for e in &dead {
        match handlers.iter_mut().find(|(h, _)| *h == e.handler) {
            Some((_, n)) => *n += 1,
            None => handlers.push((&e.handler, 1)),
        }
    }
    let content = html! {
        @if dead.is_empty() { p.empty { "No dead letters." } }
        @else {
            table.handlers { thead { tr { th { "handler" } th.n { "dead letters" } th {} } }
                tbody { @for (handler, n) in &handlers { tr data-handler=(handler) {
                    td { code { (handler) } } td.n { (n) }
                    td { form.inline method="post" action="/dead-letters/retry-all" {
                        input type="hidden" name="csrf" value=(ctx.csrf());
                        input type="hidden" name="back" value=(ctx.here);
                        input type="hidden" name="handler" value=(handler);
                        button.primary type="submit" data-confirm={ "Requeue every dead letter of " (handler) "?" } {
                            "Retry all of " (handler)
                        }
                    } }
                } } }
            }
            h2 { "Oldest first" }
            p.caption { a href={ "/executions?status=dead" } { "Filter executions" } " for more." }
            (table(&ctx, &dead))
        }
    };
    layout::page(&ctx, "Dead letters", content).await
}

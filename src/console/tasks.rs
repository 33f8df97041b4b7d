//! The tasks page: each schedule in words, its next five runs, the last outcome, and pause, resume
//! and trigger.

use axum::response::Response;
use chrono_tz::Tz;
use maud::html;

use super::{
    layout::{self, ago, button, status},
    pages::urlencode,
    Ctx,
};
use crate::scheduler::{describe::describe, Scheduler};

/// Upcoming runs shown per task.
const NEXT_RUNS: usize = 5;

pub(super) async fn list(ctx: Ctx) -> Response {
    let tasks = match ctx.admin.tasks().await {
        Ok(tasks) => tasks,
        Err(e) => return layout::error_page(e),
    };
    let mut rows = Vec::with_capacity(tasks.len());
    for task in &tasks {
        // An invalid schedule has no preview; its last_error says why.
        let slots = Scheduler::preview(ctx.admin.db(), &task.name, NEXT_RUNS)
            .await
            .map(|p| p.slots)
            .unwrap_or_default();
        rows.push((task, slots));
    }
    let content = html! {
        @if tasks.is_empty() {
            p.empty { "No tasks. Create one with " code { "pgtide task add" } ", the API, or " code { "select pgtide.create_task(...)" } "." }
        } @else {
            table.tasks {
                thead { tr { th { "task" } th { "schedule" } th { "queue · handler" } th { "state" } th { "next runs" } th { "last outcome" } th {} } }
                tbody { @for (t, slots) in &rows {
                    @let tz: Tz = t.timezone.as_deref().unwrap_or("UTC").parse().unwrap_or(Tz::UTC);
                    @let name = urlencode(&t.name);
                    tr data-task=(t.name) {
                        td { strong { (t.name) } }
                        td { (describe(t.cron.as_deref(), t.every.as_deref(), t.run_at, t.timezone.as_deref().unwrap_or("UTC"))) }
                        td { (t.queue) " · " code { (t.handler) } }
                        td { (status(&t.status))
                            @if let Some(error) = &t.last_error { div.error-text { (error) } } }
                        td.runs {
                            @if t.status != "active" && !slots.is_empty() { div.caption { "if resumed:" } }
                            @for s in slots { div { (s.with_timezone(&tz).format("%a %Y-%m-%d %H:%M %Z")) } }
                            @if slots.is_empty() { "-" }
                        }
                        td {
                            @match &t.last_outcome { Some(o) => (status(o)), None => "-" }
                            @if let Some(at) = t.last_run_at { div.caption { (ago(at)) } }
                            @if let Some(rate) = t.success_rate { div.caption { (format!("{:.0}% of recent attempts succeeded", rate * 100.0)) } }
                        }
                        td.actions {
                            @if t.status == "paused" {
                                (button(&ctx, &format!("/tasks/{name}/resume"), "Resume", "", None))
                            } @else if t.status == "active" {
                                (button(&ctx, &format!("/tasks/{name}/pause"), "Pause", "warn", None))
                            }
                            (button(&ctx, &format!("/tasks/{name}/trigger"), "Trigger now", "primary", None))
                        }
                    }
                } }
            }
        }
    };
    layout::page(&ctx, "Tasks", content).await
}

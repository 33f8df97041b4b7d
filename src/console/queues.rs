//! One queue's page: its settings (pause, concurrency limit, key limit, rate limit), the keys with
//! the most waiting, and forms to change the limits. Tenants sharing a queue show up here: who waits,
//! who runs, and the cap each one gets.

use axum::{extract::Path, response::Response};
use maud::html;

use super::{
    layout::{self, button, span},
    pages::urlencode,
    Ctx,
};

/// Keys shown, the most waiting first.
const TOP_KEYS: i64 = 20;

pub(super) async fn detail(ctx: Ctx, Path(queue): Path<String>) -> Response {
    let (queues, keys) = match tokio::try_join!(
        ctx.admin.queues(),
        ctx.admin.key_stats(Some(&queue), TOP_KEYS)
    ) {
        Ok(all) => all,
        Err(e) => return layout::error_page(e),
    };
    let Some(q) = queues.into_iter().find(|q| q.queue == queue) else {
        return layout::message_page(
            404,
            "No such queue",
            &format!("queue {queue:?} has no jobs and no settings"),
        );
    };
    let path = urlencode(&queue);
    let content = html! {
        p.summary {
            @if q.paused { span.status.paused { "paused" } } @else { span.status.active { "active" } }
            " · " (q.queued) " queued · " (q.running) " running · "
            a href={ "/executions?queue=" (path) } { "executions" }
        }
        table.settings {
            tbody {
                tr { th { "concurrency limit" } td { (q.concurrency_limit.map_or("none".into(), |n| n.to_string())) } }
                tr { th { "key limit" } td {
                    (q.key_concurrency_limit.map_or("none".into(), |n| format!("{n} per key")))
                    @if q.key_limit_overrides > 0 { " (" (q.key_limit_overrides) " key" @if q.key_limit_overrides != 1 { "s" } " with their own)" }
                } }
                tr { th { "rate limit" } td {
                    @match (q.rate_max_starts, &q.rate_per) {
                        (Some(n), Some(per)) => { (n) " starts per " (per) @if q.rate_per_key { " for each key" } },
                        _ => "none",
                    }
                } }
            }
        }
        h2 { "Keys with the most waiting" }
        @if keys.is_empty() {
            p.empty { "No concurrency keys: no job of this queue has one, or none is waiting or running." }
        } @else {
            table.keys {
                thead { tr { th { "key" } th.n { "queued" } th.n { "running" } th.n { "limit" } th.n { "oldest due" } } }
                tbody { @for k in &keys {
                    tr data-key=[k.concurrency_key.as_deref()] {
                        td { @match &k.concurrency_key { Some(key) => code { (key) }, None => span.caption { "(no key)" } } }
                        td.n { (k.queued) } td.n { (k.running) }
                        td.n { (k.concurrency_limit.map_or("-".into(), |n| n.to_string())) }
                        td.n { (k.oldest_due_secs.map_or("-".into(), span)) }
                    }
                } }
            }
        }
        h2 { "Change the limits" }
        form.filters method="post" action={ "/queues/" (path) "/key-limit" } {
            input type="hidden" name="csrf" value=(ctx.csrf());
            input type="hidden" name="back" value=(ctx.here);
            label { "Key limit " input type="text" name="concurrency_limit" size="5" placeholder="none"; }
            label { "for key " input type="text" name="concurrency_key" size="16" placeholder="every key"; }
            button type="submit" class="primary" { "Set key limit" }
        }
        form.filters method="post" action={ "/queues/" (path) "/rate-limit" } {
            input type="hidden" name="csrf" value=(ctx.csrf());
            input type="hidden" name="back" value=(ctx.here);
            label { "At most " input type="text" name="max_starts" size="5" placeholder="none"; " starts" }
            label { "per " input type="text" name="per" size="6" placeholder="1s"; }
            label { input type="checkbox" name="per_key" value="on"; " for each key" }
            button type="submit" class="primary" { "Set rate limit" }
        }
        p.caption { "An empty limit removes it. Changes are audited with the surface console." }
        @if q.paused {
            (button(&ctx, &format!("/queues/{path}/resume"), "Resume", "", None))
        } @else {
            (button(&ctx, &format!("/queues/{path}/pause"), "Pause", "warn", None))
        }
    };
    layout::page(&ctx, &format!("Queue {queue}"), content).await
}

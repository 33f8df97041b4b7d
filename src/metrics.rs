//! Prometheus metrics.
//!
//! Counters and histograms are recorded where things happen (claims, handler runs, completions)
//! through the `metrics` facade, so an embedding application can install any recorder it likes.
//! `pgtide run --http` installs the Prometheus recorder and serves it at `GET /metrics`. Gauges that
//! describe the database (queue depth, oldest due age, dead letters, live workers) are read from
//! Postgres when scraped, at most once per [`GAUGE_REFRESH`], so many scrapers cost one query.

use std::{
    collections::HashSet,
    sync::OnceLock,
    time::{Duration, Instant},
};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::{sql, Database, Result};

/// Counter: attempts whose outcome was recorded, by `queue`, `handler` and `outcome`
/// (`succeeded`, `failed`, `dead`, or `fenced` when the row was no longer ours).
pub const EXECUTIONS_FINISHED: &str = "pgtide_executions_finished_total";
/// Histogram: handler run time in seconds, by `queue` and `handler`.
pub const RUN_DURATION: &str = "pgtide_execution_duration_seconds";
/// Histogram: `started_at - visible_at` in seconds at claim time, by `queue`.
pub const PICKUP_LATENCY: &str = "pgtide_pickup_latency_seconds";
/// Gauge: due (`queued`) rows per `queue`.
pub const QUEUE_DEPTH: &str = "pgtide_queue_depth";
/// Gauge: age in seconds of the oldest due row per `queue` (0 when none is due).
pub const OLDEST_DUE_AGE: &str = "pgtide_queue_oldest_due_age_seconds";
/// Gauge: dead letters not yet requeued per `queue`.
pub const DEAD_LETTERS: &str = "pgtide_queue_dead_letters";
/// Gauge: concurrency keys with due rows per `queue` (a count: keys are never labels).
pub const KEYS_WAITING: &str = "pgtide_queue_keys_waiting";
/// Gauge: concurrency keys running as many rows as their key limit allows, per `queue`.
pub const KEYS_AT_CAP: &str = "pgtide_queue_keys_at_cap";
/// Gauge: rate limits of a `queue` holding starts back now (1 for the queue's, or one per key).
pub const RATE_LIMITED: &str = "pgtide_queue_rate_limited";
/// Gauge: 1 while this process holds the maintenance leader lease.
pub const IS_LEADER: &str = "pgtide_is_leader";
/// Gauge: workers with a heartbeat in the last minute, across the fleet.
pub const WORKERS_LIVE: &str = "pgtide_workers_live";

/// Gauge: 1 while an alert fires, by `rule` and `subject` (0 once it resolved).
pub const ALERT_FIRING: &str = "pgtide_alert_firing";
/// Counter: alert events recorded by this process (the leader), by `rule` and `state`.
pub const ALERT_EVENTS: &str = "pgtide_alert_events_total";

/// How stale the database gauges may get.
pub const GAUGE_REFRESH: Duration = Duration::from_secs(5);

/// The process-wide Prometheus recorder, installed on first use.
///
/// A process can have one global recorder; when another one is already installed (an embedding
/// application chose its own), pgtide's metrics go there and this handle renders only what it has.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0, 60.0, 300.0,
            ])
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::debug!(
                "a metrics recorder was already installed; /metrics shows pgtide's gauges only"
            );
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(EXECUTIONS_FINISHED, "Attempts whose outcome was recorded.");
    describe_histogram!(RUN_DURATION, Unit::Seconds, "Handler run time.");
    describe_histogram!(
        PICKUP_LATENCY,
        Unit::Seconds,
        "started_at - visible_at at claim."
    );
    describe_gauge!(QUEUE_DEPTH, "Due (queued) rows.");
    describe_gauge!(OLDEST_DUE_AGE, Unit::Seconds, "Age of the oldest due row.");
    describe_gauge!(DEAD_LETTERS, "Dead letters not yet requeued.");
    describe_gauge!(KEYS_WAITING, "Concurrency keys with due rows.");
    describe_gauge!(KEYS_AT_CAP, "Concurrency keys at their key limit.");
    describe_gauge!(
        RATE_LIMITED,
        "Rate limits (the queue's or a key's) holding starts back now."
    );
    describe_gauge!(IS_LEADER, "1 while this process is the maintenance leader.");
    describe_gauge!(WORKERS_LIVE, "Workers with a heartbeat in the last minute.");
    describe_gauge!(ALERT_FIRING, "1 while the alert fires (pgtide.alerts).");
    describe_counter!(ALERT_EVENTS, "Alert events recorded by this process.");
}

/// Refreshes the database gauges when they are older than [`GAUGE_REFRESH`].
#[derive(Debug, Default)]
pub struct Gauges {
    state: tokio::sync::Mutex<GaugeState>,
}

#[derive(Debug, Default)]
struct GaugeState {
    refreshed: Option<Instant>,
    /// Queues reported before: one that vanished from the query is set to 0, not left stale.
    queues: HashSet<String>,
    /// Alerts reported firing before, by (rule, subject): a resolved one is set to 0.
    alerts: HashSet<(String, String)>,
}

impl Gauges {
    /// Reads the gauges from `db` unless they were read within [`GAUGE_REFRESH`].
    ///
    /// # Errors
    /// [`crate::Error::Db`] or [`crate::Error::Pool`] when the database cannot be read; the gauges
    /// keep their previous values.
    pub async fn refresh(&self, db: &Database) -> Result<()> {
        let mut state = self.state.lock().await;
        if state
            .refreshed
            .is_some_and(|at| at.elapsed() < GAUGE_REFRESH)
        {
            return Ok(());
        }
        let client = db.client().await?;
        let rows = db.query(&client, sql::METRICS_GAUGES, &[]).await?;
        let live: i64 = db
            .query_one(&client, sql::WORKERS_LIVE, &[])
            .await?
            .get("live");
        let mut seen = HashSet::new();
        for row in rows {
            let queue: String = row.get("queue");
            metrics::gauge!(QUEUE_DEPTH, "queue" => queue.clone())
                .set(row.get::<_, i64>("depth") as f64);
            metrics::gauge!(OLDEST_DUE_AGE, "queue" => queue.clone())
                .set(row.get::<_, f64>("oldest_due_secs"));
            metrics::gauge!(DEAD_LETTERS, "queue" => queue.clone())
                .set(row.get::<_, i64>("dead") as f64);
            for (name, column) in [
                (KEYS_WAITING, "keys_waiting"),
                (KEYS_AT_CAP, "keys_at_cap"),
                (RATE_LIMITED, "rate_limited"),
            ] {
                metrics::gauge!(name, "queue" => queue.clone())
                    .set(row.get::<_, i64>(column) as f64);
            }
            seen.insert(queue);
        }
        for gone in state.queues.difference(&seen) {
            for name in [
                QUEUE_DEPTH,
                OLDEST_DUE_AGE,
                DEAD_LETTERS,
                KEYS_WAITING,
                KEYS_AT_CAP,
                RATE_LIMITED,
            ] {
                metrics::gauge!(name, "queue" => gone.clone()).set(0.0);
            }
        }
        state.queues.extend(seen);
        metrics::gauge!(WORKERS_LIVE).set(live as f64);
        let firing: HashSet<(String, String)> = db
            .query(&client, sql::ALERT_FIRING, &[])
            .await?
            .iter()
            .map(|r| (r.get("rule"), r.get("subject")))
            .collect();
        for (rule, subject) in state.alerts.difference(&firing) {
            metrics::gauge!(ALERT_FIRING, "rule" => rule.clone(), "subject" => subject.clone())
                .set(0.0);
        }
        for (rule, subject) in &firing {
            metrics::gauge!(ALERT_FIRING, "rule" => rule.clone(), "subject" => subject.clone())
                .set(1.0);
        }
        state.alerts.extend(firing);
        state.refreshed = Some(Instant::now());
        Ok(())
    }
}

/// Counts an alert event recorded by this process.
pub(crate) fn alert_event(rule: &str, state: &str) {
    metrics::counter!(ALERT_EVENTS, "rule" => rule.to_string(), "state" => state.to_string())
        .increment(1);
}

/// Records whether this process leads maintenance.
pub(crate) fn set_leader(leading: bool) {
    metrics::gauge!(IS_LEADER).set(if leading { 1.0 } else { 0.0 });
}

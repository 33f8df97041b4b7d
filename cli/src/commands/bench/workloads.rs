//! The workloads of `pgtide bench`. Each one sets up its rows, measures one thing, and checks
//! in the database that every job ended as it must. Every figure is read from the database or timed
//! against what a separate connection sees there, never taken from the worker's own counters.

use std::time::{Duration, Instant};

use pgtide::{
    scheduler::{Scheduler, SchedulerConfig},
    Database, NewJob,
};
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{
    child::{epoch_micros, WorkerProcess, LATENCY_PROBE, LEDGER},
    progress::Progress,
    Settings,
};

const REMAINING: &str = include_str!("../../../sql/bench/remaining.sql");
const OUTCOMES: &str = include_str!("../../../sql/bench/outcomes.sql");
const BACKLOG_FILL: &str = include_str!("../../../sql/bench/backlog_fill.sql");
const LATENCY_STATS: &str = include_str!("../../../sql/bench/latency_stats.sql");
const FIRE_TASKS: &str = include_str!("../../../sql/bench/fire_tasks.sql");
const FIRE_WINDOW: &str = include_str!("../../../sql/bench/fire_window.sql");
const FIRE_STOP: &str = include_str!("../../../sql/bench/fire_stop.sql");
const LIMIT_CALL: &str = include_str!("../../../sql/bench/limit_call.sql");
const SETTLE: &str = include_str!("../../../sql/bench/settle.sql");
const CHECKPOINT: &str = include_str!("../../../sql/bench/checkpoint.sql");
const VACUUM: &str = include_str!("../../../sql/bench/vacuum.sql");
const FIRE_LAG_STATS: &str = include_str!("../../../sql/bench/fire_lag_stats.sql");
const LEDGER_TABLE: &str = include_str!("../../../sql/bench/ledger.sql");
const LEDGER_EFFECTS: &str = include_str!("../../../sql/bench/ledger_effects.sql");

/// Bounds of the pause between two counts of what is left during a drain.
const POLL_MIN: Duration = Duration::from_millis(2);
const POLL_MAX: Duration = Duration::from_millis(50);
/// A drain that makes no progress for this long has failed.
const STALL: Duration = Duration::from_secs(60);

/// One bulk enqueue and one drain of `jobs` no-op jobs.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Drain {
    pub(crate) jobs: usize,
    pub(crate) enqueue_secs: f64,
    pub(crate) enqueue_per_sec: f64,
    pub(crate) drain_secs: f64,
    pub(crate) drain_per_sec: f64,
    /// Peak resident memory of the worker process (VmHWM), in MiB.
    pub(crate) worker_peak_rss_mib: f64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Latency {
    pub(crate) jobs: i64,
    pub(crate) p50_ms: f64,
    pub(crate) p95_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Backlog {
    /// Rows already in the table: half scheduled far ahead, half succeeded.
    pub(crate) ballast_rows: i64,
    pub(crate) fill_secs: f64,
    pub(crate) drain: Drain,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct FireLag {
    pub(crate) tasks: usize,
    pub(crate) seconds: u64,
    pub(crate) fired: i64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
    pub(crate) doubled: i64,
    pub(crate) missed: i64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Limit {
    pub(crate) jobs: usize,
    pub(crate) batch: i32,
    pub(crate) drain_secs: f64,
    pub(crate) drain_per_sec: f64,
}

/// The fairness workload: the same jobs over many keys drained three ways.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Fairness {
    pub(crate) keys: usize,
    /// No key limit: the claim takes the queue's head, whatever the keys.
    pub(crate) plain: Drain,
    /// A key limit of 1 on `keys` keys: every claim walks as many keys as it takes rows.
    pub(crate) keyed: Drain,
    /// A key limit on 10 keys, high enough never to bind: a claim walks 10 keys.
    pub(crate) few_keys: Drain,
}

/// What the workloads share: the scratch database, the settings and the progress display.
pub(crate) struct Bench<'a> {
    pub(crate) url: &'a str,
    /// The bench's own connections: enqueues and setup.
    pub(crate) db: Database,
    /// A separate connection that watches the rows.
    pub(crate) monitor: Database,
    pub(crate) settings: &'a Settings,
    pub(crate) progress: &'a Progress,
}

impl Bench<'_> {
    /// `throughput`: bulk-enqueue N jobs in calls of `batch`, then drain them with a fresh worker.
    pub(crate) async fn throughput(&self) -> crate::Result<Drain> {
        self.drain("throughput", "bench_throughput", noop_jobs)
            .await
    }

    /// `sql`: the throughput drain with a sql handler that inserts each job's payload into a ledger
    /// table, in the transaction that records the job's success. Then the ledger must hold exactly
    /// one row per job.
    pub(crate) async fn sql(&self) -> crate::Result<Drain> {
        self.db.client().await?.batch_execute(LEDGER_TABLE).await?;
        let drain = self
            .drain("sql", "bench_sql", |queue, i| {
                NewJob::new(LEDGER).queue(queue).payload(json!({ "i": i }))
            })
            .await?;
        let row = self
            .monitor
            .client()
            .await?
            .query_one(LEDGER_EFFECTS, &[])
            .await?;
        let (effects, jobs): (i64, i64) = (row.get("effects"), row.get("jobs"));
        if effects != drain.jobs as i64 || jobs != drain.jobs as i64 {
            return Err(crate::Error::Run(format!(
                "sql: {} jobs succeeded but the ledger holds {effects} rows from {jobs} jobs \
                 (expected exactly one row per job)",
                drain.jobs
            )));
        }
        Ok(drain)
    }

    /// `fairness`: N jobs over `--keys` keys, drained with no key limit, then with a key limit of 1
    /// (round-robin over every key, one row per key per claim round), then with 10 keys and a limit
    /// that never binds. The second against the first is what fair dispatch costs; the second
    /// against the third shows whether a claim's cost grows with the number of keys.
    pub(crate) async fn fairness(&self) -> crate::Result<Fairness> {
        let keys = self.settings.keys;
        let client = self.db.client().await?;
        client
            .batch_execute(
                "select pgtide.set_key_limit('bench_fair_keyed', 1);
                 select pgtide.set_key_limit('bench_fair_few', 1000000);",
            )
            .await?;
        drop(client);
        let spread = move |queue: &str, i: usize| {
            NewJob::new("noop")
                .queue(queue)
                .concurrency_key(format!("tenant-{}", i % keys))
        };
        let plain = self.drain("fairness", "bench_fair_plain", spread).await?;
        let keyed = self.drain("fairness", "bench_fair_keyed", spread).await?;
        let few_keys = self
            .drain("fairness", "bench_fair_few", |queue, i| {
                NewJob::new("noop")
                    .queue(queue)
                    .concurrency_key(format!("tenant-{}", i % 10))
            })
            .await?;
        Ok(Fairness {
            keys,
            plain,
            keyed,
            few_keys,
        })
    }

    /// `backlog`: the throughput drain again, beside a million scheduled and a million finished rows
    /// in the same queue.
    pub(crate) async fn backlog(&self) -> crate::Result<Backlog> {
        let queue = "bench_backlog";
        let rows = self.settings.backlog_rows;
        self.progress.phase(
            "backlog",
            &format!("inserting {} ballast rows", 2 * rows),
            0,
        );
        let started = Instant::now();
        let client = self.db.client().await?;
        client.execute(BACKLOG_FILL, &[&queue, &rows]).await?;
        // A table that has been in use this long has been vacuumed; start from that state.
        client.batch_execute(VACUUM).await?;
        let fill_secs = started.elapsed().as_secs_f64();
        drop(client);
        let drain = self.drain("backlog", queue, noop_jobs).await?;
        Ok(Backlog {
            ballast_rows: 2 * rows,
            fill_secs,
            drain,
        })
    }

    /// `limit`: the server-side loop (claim 500 / complete 500, no client) on N jobs.
    pub(crate) async fn limit(&self) -> crate::Result<Limit> {
        let queue = "bench_limit";
        let ids = self.enqueue("limit", queue, noop_jobs).await?.0;
        self.progress
            .phase("limit", "server-side drain", ids.len() as u64);
        let client = self.db.client().await?;
        let batch = 500_i32;
        let started = Instant::now();
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&queue, &batch];
        let call = client.execute(LIMIT_CALL, &params);
        let watch = async {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if let Ok(left) = self.remaining(queue).await {
                    self.progress
                        .set(ids.len() as u64 - left.min(ids.len() as u64));
                }
            }
        };
        tokio::select! {
            done = call => { done?; }
            () = watch => unreachable!("the watch loop never ends"),
        }
        let secs = started.elapsed().as_secs_f64();
        self.check_all_succeeded("limit", &ids).await?;
        Ok(Limit {
            jobs: ids.len(),
            batch,
            drain_secs: secs,
            drain_per_sec: ids.len() as f64 / secs,
        })
    }

    /// `latency`: an idle worker at concurrency 4; jobs enqueued one at a time on a fixed schedule.
    pub(crate) async fn latency(&self) -> crate::Result<Latency> {
        let queue = "bench_latency";
        let n = self.settings.latency_jobs;
        self.progress
            .phase("latency", "idle worker warming up", n as u64);
        let mut worker = WorkerProcess::spawn(self.url, queue, 4, self.config()).await?;
        worker.go().await?;
        // Warm the enqueue connection too: the figure is pickup, not connection setup.
        drop(self.db.client().await?);
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.progress
            .phase("latency", "enqueueing one at a time", n as u64);
        let mut ids = Vec::with_capacity(n);
        let mut ticks = tokio::time::interval(self.settings.latency_interval);
        for sent in 0..n {
            ticks.tick().await;
            let job = NewJob::new(LATENCY_PROBE)
                .queue(queue)
                .payload(json!({ "ts_us": epoch_micros() }));
            ids.push(pgtide::enqueue(&self.db, &job).await?);
            self.progress.set(sent as u64 + 1);
        }
        self.wait_drained("latency", queue, n).await?;
        worker.stop().await?;
        self.check_all_succeeded("latency", &ids).await?;
        let row = self
            .monitor
            .client()
            .await?
            .query_one(LATENCY_STATS, &[&ids])
            .await?;
        Ok(Latency {
            jobs: row.get("n"),
            p50_ms: row.get("p50"),
            p95_ms: row.get("p95"),
            p99_ms: row.get("p99"),
            max_ms: row.get("max"),
        })
    }

    /// `fire lag`: every-second cron tasks fired by a scheduler (their jobs drained by a worker).
    pub(crate) async fn fire_lag(&self) -> crate::Result<FireLag> {
        let queue = "bench_fire";
        let prefix = "bench_fire_";
        let tasks = self.settings.fire_tasks;
        let seconds = self.settings.fire_duration.as_secs().max(1);
        let client = self.db.client().await?;
        client
            .execute(FIRE_TASKS, &[&prefix, &(tasks as i32), &queue])
            .await?;
        let mut worker = WorkerProcess::spawn(self.url, queue, 16, self.config()).await?;
        worker.go().await?;
        let shutdown = CancellationToken::new();
        let scheduler = Scheduler::new(self.db.clone(), SchedulerConfig::default());
        let running = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { scheduler.run(shutdown).await }
        });
        // The first two seconds are warm-up (the scheduler plans the new tasks); the window after
        // them is measured.
        let warmup = 2.0_f64;
        let window = client
            .query_one(FIRE_WINDOW, &[&warmup, &(seconds as f64)])
            .await?;
        let (start, end): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
            (window.get("window_start"), window.get("window_end"));
        self.progress.phase(
            "fire lag",
            &format!("{tasks} every-second tasks"),
            seconds + 3,
        );
        let clock = Instant::now();
        // One more second after the window, so its last slots have fired.
        while clock.elapsed() < Duration::from_secs(seconds + 3) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            self.progress.set(clock.elapsed().as_secs());
        }
        shutdown.cancel();
        let _ = running.await;
        client.execute(FIRE_STOP, &[&prefix]).await?;
        worker.stop().await?;
        let row = client
            .query_one(FIRE_LAG_STATS, &[&prefix, &start, &end, &(tasks as i64)])
            .await?;
        let lag = FireLag {
            tasks,
            seconds,
            fired: row.get("fired"),
            p50_ms: row.get::<_, Option<f64>>("p50").unwrap_or_default(),
            p99_ms: row.get::<_, Option<f64>>("p99").unwrap_or_default(),
            max_ms: row.get::<_, Option<f64>>("max").unwrap_or_default(),
            doubled: row.get("doubled"),
            missed: row.get("missed"),
        };
        if lag.doubled != 0 || lag.missed != 0 {
            return Err(crate::Error::Run(format!(
                "fire lag: {} slots fired twice and {} missed in the window (both must be 0)",
                lag.doubled, lag.missed
            )));
        }
        Ok(lag)
    }

    /// Enqueues N jobs (`job(queue, i)` makes the i-th) in calls of `batch` and times that alone.
    async fn enqueue(
        &self,
        workload: &str,
        queue: &str,
        job: impl Fn(&str, usize) -> NewJob,
    ) -> crate::Result<(Vec<i64>, f64)> {
        let n = self.settings.jobs;
        let batch = self.settings.batch;
        let jobs: Vec<NewJob> = (0..n).map(|i| job(queue, i)).collect();
        drop(self.db.client().await?);
        self.settle().await?;
        self.progress.phase(workload, "bulk enqueue", n as u64);
        let mut ids = Vec::with_capacity(n);
        let started = Instant::now();
        for chunk in jobs.chunks(batch) {
            ids.extend(pgtide::enqueue_many(&self.db, chunk).await?);
            self.progress.set(ids.len() as u64);
        }
        Ok((ids, started.elapsed().as_secs_f64()))
    }

    /// Enqueues N jobs, then starts a worker at the bench's concurrency and times it from its start
    /// until the separate connection counts nothing left to do; then checks all N succeeded.
    async fn drain(
        &self,
        workload: &str,
        queue: &str,
        job: impl Fn(&str, usize) -> NewJob,
    ) -> crate::Result<Drain> {
        let (ids, enqueue_secs) = self.enqueue(workload, queue, job).await?;
        let n = ids.len();
        let mut worker =
            WorkerProcess::spawn(self.url, queue, self.settings.concurrency, self.config()).await?;
        self.progress.phase(workload, "drain", n as u64);
        let started = Instant::now();
        worker.go().await?;
        self.wait_drained(workload, queue, n).await?;
        let drain_secs = started.elapsed().as_secs_f64();
        let peak = worker.memory().map_or(0, |(_, peak)| peak);
        worker.stop().await?;
        self.check_all_succeeded(workload, &ids).await?;
        Ok(Drain {
            jobs: n,
            enqueue_secs,
            enqueue_per_sec: n as f64 / enqueue_secs,
            drain_secs,
            drain_per_sec: n as f64 / drain_secs,
            worker_peak_rss_mib: peak as f64 / (1024.0 * 1024.0),
        })
    }

    fn config(&self) -> Option<&std::path::Path> {
        self.settings.worker_config.as_deref()
    }

    /// Polls until no row of `queue` is queued or running.
    ///
    /// Counting costs the server CPU the drain would otherwise use, so the poll is sparse while much
    /// is left and dense near the end: the next poll comes after a quarter of the time the remaining
    /// rows should take at the rate seen so far, between 2 and 50 ms. The end is therefore seen at
    /// most 2 ms late.
    async fn wait_drained(&self, workload: &str, queue: &str, n: usize) -> crate::Result<()> {
        let started = Instant::now();
        let mut last = u64::MAX;
        let mut moved = Instant::now();
        loop {
            let left = self.remaining(queue).await?;
            if left == 0 {
                return Ok(());
            }
            let done = (n as u64).saturating_sub(left);
            if left != last {
                last = left;
                moved = Instant::now();
                self.progress.set(done);
            } else if moved.elapsed() > STALL {
                return Err(crate::Error::Run(format!(
                    "{workload}: {left} jobs still queued or running after {STALL:?} without progress"
                )));
            }
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
            let expected_left = if rate > 0.0 { left as f64 / rate } else { 1.0 };
            let pause = Duration::from_secs_f64(expected_left / 4.0).clamp(POLL_MIN, POLL_MAX);
            tokio::time::sleep(pause).await;
        }
    }

    pub(super) async fn remaining(&self, queue: &str) -> crate::Result<u64> {
        let client = self.monitor.client().await?;
        let statement = client.prepare_cached(REMAINING).await?;
        let left: i64 = client.query_one(&statement, &[&queue]).await?.get(0);
        Ok(left.max(0) as u64)
    }

    /// Every one of `ids` succeeded, on its first attempt.
    async fn check_all_succeeded(&self, workload: &str, ids: &[i64]) -> crate::Result<()> {
        let row = self
            .monitor
            .client()
            .await?
            .query_one(OUTCOMES, &[&ids])
            .await?;
        let (succeeded, other, retried): (i64, i64, i64) =
            (row.get("succeeded"), row.get("other"), row.get("retried"));
        if succeeded as usize != ids.len() || other != 0 || retried != 0 {
            return Err(crate::Error::Run(format!(
                "{workload}: of {} jobs, {succeeded} succeeded, {other} did not, {retried} needed a retry \
                 (expected all to succeed at the first attempt)",
                ids.len()
            )));
        }
        Ok(())
    }

    /// Starts each enqueue-and-drain from the same state: the previous workload's dead rows vacuumed
    /// and its dirty pages written out, so neither autovacuum nor a checkpoint starts in the middle
    /// of a timed section. It
    /// comes before the enqueue, as in steady state: pages the enqueue fills are new since the
    /// checkpoint, so the drain's changes to them need no full-page images. (A checkpoint between
    /// enqueue and drain would make the drain's first change to every page write one.)
    pub(super) async fn settle(&self) -> crate::Result<()> {
        let client = self.db.client().await?;
        client.batch_execute(SETTLE).await?;
        if let Err(e) = client.batch_execute(CHECKPOINT).await {
            tracing::debug!(error = %e, "bench: checkpoint refused (needs pg_checkpoint); going on");
        }
        Ok(())
    }
}

/// The i-th job of a no-op drain.
fn noop_jobs(queue: &str, _i: usize) -> NewJob {
    NewJob::new("noop").queue(queue)
}

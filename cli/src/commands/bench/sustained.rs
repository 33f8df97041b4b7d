//! The `sustained` workload: the steady state, not a fresh-table sprint.
//!
//! The other drains start from a vacuumed table and last a second or two, which hides what a queue
//! that never stops does to its table: dead row versions pile up between autovacuum runs, and the
//! claim has to step over them. Here a producer keeps a backlog of no-op jobs in front of a worker at
//! full speed for `--sustained-for` (10 minutes by default), with no manual vacuum: the server's own
//! autovacuum settings, and the pruner on. Every `--sample-every` the bench records what was done
//! since the last sample and the table's dead tuples and sizes, all read from the database.
//!
//! Done jobs are counted as enqueued minus not yet finished (`queued` or `running`): the pruner
//! deletes finished rows, so they cannot be counted directly. The pruner keeps finished rows for
//! [`RETENTION`], short enough that the table can reach its steady size within the run.

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use pgtide::{
    maintenance::{Maintenance, MaintenanceConfig},
    NewJob,
};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{child::WorkerProcess, workloads::Bench};

const TABLE_STATS: &str = include_str!("../../../sql/bench/table_stats.sql");
const NOT_SUCCEEDED: &str = include_str!("../../../sql/bench/not_succeeded.sql");
const BACKLOG: &str = include_str!("../../../sql/bench/remaining.sql");

/// How long the pruner keeps finished rows during the run.
const RETENTION: Duration = Duration::from_secs(60);
/// The producer tops the backlog up to this many jobs not yet finished...
const BACKLOG_HIGH: i64 = 20_000;
/// ...whenever it falls below this many.
const BACKLOG_LOW: i64 = 10_000;

/// One sample of the run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Sample {
    /// Seconds since the worker started.
    pub(crate) at_secs: f64,
    /// Jobs done per second since the previous sample.
    pub(crate) per_sec: f64,
    /// Jobs enqueued and not finished yet.
    pub(crate) backlog: i64,
    pub(crate) dead_tuples: i64,
    pub(crate) live_tuples: i64,
    pub(crate) table_mib: f64,
    pub(crate) indexes_mib: f64,
    /// Autovacuum runs on `pgtide.executions` so far.
    pub(crate) autovacuums: i64,
    /// Other vacuum runs on it so far: the leader's vacuumer.
    pub(crate) vacuums: i64,
    /// The server's checkpoints so far.
    pub(crate) checkpoints: i64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Sustained {
    pub(crate) seconds: u64,
    pub(crate) jobs: i64,
    pub(crate) samples: Vec<Sample>,
    /// Median and worst of the samples' rates, the first (the worker starting) left out.
    pub(crate) median_per_sec: f64,
    pub(crate) worst_per_sec: f64,
    /// Table size at half time and at the end.
    pub(crate) table_mib_half: f64,
    pub(crate) table_mib_end: f64,
}

impl Bench<'_> {
    /// `sustained`: a backlog kept full for the whole duration, drained by one worker.
    pub(crate) async fn sustained(&self) -> crate::Result<Sustained> {
        let queue = "bench_sustained";
        let seconds = self.settings.sustained_for.as_secs().max(1);
        let every = self.settings.sample_every;
        self.settle().await?;
        let enqueued = Arc::new(AtomicI64::new(0));
        let stop = CancellationToken::new();
        let producer = tokio::spawn(produce(
            self.db.clone(),
            queue,
            enqueued.clone(),
            stop.clone(),
        ));
        let maintenance = Maintenance::new(
            self.db.clone(),
            "pgtide-bench",
            MaintenanceConfig {
                retention: RETENTION,
                ..MaintenanceConfig::default()
            },
        );
        let maintaining = tokio::spawn({
            let stop = stop.clone();
            async move { maintenance.run(stop).await }
        });
        // Let the producer build its backlog before the clock starts.
        while enqueued.load(Ordering::Relaxed) < BACKLOG_HIGH {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut worker = WorkerProcess::spawn(
            self.url,
            queue,
            self.settings.concurrency,
            self.settings.worker_config.as_deref(),
        )
        .await?;
        self.progress.phase(
            "sustained",
            &format!(
                "{} at full speed",
                humantime::format_duration(self.settings.sustained_for)
            ),
            seconds,
        );
        let started = Instant::now();
        worker.go().await?;
        let mut samples = Vec::new();
        let mut last = (0.0_f64, self.done(queue, &enqueued).await?);
        let result = async {
            while started.elapsed() < Duration::from_secs(seconds) {
                tokio::time::sleep(every).await;
                let done = self.done(queue, &enqueued).await?;
                let at = started.elapsed().as_secs_f64();
                let stats = self
                    .monitor
                    .client()
                    .await?
                    .query_one(TABLE_STATS, &[])
                    .await?;
                samples.push(Sample {
                    at_secs: at,
                    per_sec: (done.0 - last.1 .0) as f64 / (at - last.0),
                    backlog: done.1,
                    dead_tuples: stats.get("dead_tuples"),
                    live_tuples: stats.get("live_tuples"),
                    table_mib: mib(stats.get("table_bytes")),
                    indexes_mib: mib(stats.get("indexes_bytes")),
                    autovacuums: stats.get("autovacuums"),
                    vacuums: stats.get("vacuums"),
                    checkpoints: stats.get("checkpoints"),
                });
                last = (at, done);
                self.progress.set(at as u64);
            }
            Ok::<_, crate::Error>(())
        }
        .await;
        stop.cancel();
        let produced = producer.await;
        worker.stop().await?;
        let _ = maintaining.await;
        result?;
        match produced {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => {
                return Err(crate::Error::Run(format!(
                    "sustained: the producer stopped: {e}"
                )))
            }
        }
        let failed: i64 = self
            .monitor
            .client()
            .await?
            .query_one(NOT_SUCCEEDED, &[&queue])
            .await?
            .get(0);
        if failed != 0 {
            return Err(crate::Error::Run(format!(
                "sustained: {failed} jobs failed or died (every job must succeed)"
            )));
        }
        Ok(summarise(seconds, last.1 .0, samples))
    }

    /// Jobs of `queue` done so far (enqueued minus not finished), and the backlog.
    async fn done(&self, queue: &str, enqueued: &AtomicI64) -> crate::Result<(i64, i64)> {
        let left = self.remaining(queue).await? as i64;
        let sent = enqueued.load(Ordering::Relaxed);
        Ok((sent - left, left))
    }
}

/// Keeps the backlog between [`BACKLOG_LOW`] and [`BACKLOG_HIGH`] until `stop`.
async fn produce(
    db: pgtide::Database,
    queue: &'static str,
    enqueued: Arc<AtomicI64>,
    stop: CancellationToken,
) -> crate::Result<()> {
    let batch: Vec<NewJob> = (0..1000)
        .map(|_| NewJob::new("noop").queue(queue))
        .collect();
    while !stop.is_cancelled() {
        let left: i64 = db
            .client()
            .await?
            .query_one(BACKLOG, &[&queue])
            .await?
            .get(0);
        if left < BACKLOG_LOW {
            // A sample taken between an enqueue's commit and this count sees the batch as not
            // done and not sent: it is short by one batch, under 1% of a 10 s sample.
            for _ in 0..(BACKLOG_HIGH - left) / 1000 {
                pgtide::enqueue_many(&db, &batch).await?;
                enqueued.fetch_add(1000, Ordering::Relaxed);
            }
        } else {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
                () = stop.cancelled() => {}
            }
        }
    }
    Ok(())
}

fn summarise(seconds: u64, jobs: i64, samples: Vec<Sample>) -> Sustained {
    let mut rates: Vec<f64> = samples.iter().skip(1).map(|s| s.per_sec).collect();
    rates.sort_by(f64::total_cmp);
    let median = rates.get(rates.len() / 2).copied().unwrap_or_default();
    let worst = rates.first().copied().unwrap_or_default();
    let half = samples
        .iter()
        .find(|s| s.at_secs >= seconds as f64 / 2.0)
        .map_or(0.0, |s| s.table_mib);
    let end = samples.last().map_or(0.0, |s| s.table_mib);
    Sustained {
        seconds,
        jobs,
        samples,
        median_per_sec: median,
        worst_per_sec: worst,
        table_mib_half: half,
        table_mib_end: end,
    }
}

fn mib(bytes: i64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

//! `pgtide bench`: how fast this machine's Postgres lets pgtide go, measured the same way every time.
//!
//! It runs in a scratch database (`pgtide_bench` by default, dropped afterwards) on the embedded
//! cluster or the server of `--database-url`, so a user's rows are never touched and every run starts
//! from an empty schema. The worker under test is a separate `pgtide` process (see [`child`]). Every
//! figure comes from the database: drains are timed until a separate connection counts nothing left,
//! pickup latency is what the handler wrote into each row, fire lag is `created_at - scheduled_for`.
//! The `limit` workload runs the fastest possible drain inside the server, so pgtide's drain can be
//! judged as a fraction of what the hardware and the data layout allow in the same run.

mod child;
mod progress;
mod report;
mod sustained;
mod workloads;

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};
use pgtide::Database;
use serde::Serialize;

pub(crate) use child::{serve as serve_worker, BenchWorkerArgs};

use self::{progress::Progress, report::Report, workloads::Bench};

const LIMIT_PROCEDURE: &str = include_str!("../../../sql/bench/limit_procedure.sql");
const SERVER_FACTS: &str = include_str!("../../../sql/bench/server_facts.sql");

/// The workloads, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Workload {
    /// Bulk enqueue, then drain with a worker at `--concurrency`.
    Throughput,
    /// The server-side claim/complete loop: the ceiling for the drain.
    Limit,
    /// Pickup latency of jobs enqueued one at a time to an idle worker.
    Latency,
    /// Lag of every-second cron tasks.
    FireLag,
    /// The throughput drain beside 2 x `--backlog-rows` rows that are not due.
    Backlog,
    /// The throughput drain with a sql handler: one ledger insert per job, committed with its success.
    Sql,
    /// Jobs spread over `--keys` concurrency keys: the plain drain, then the same drain under a key
    /// limit (fair, round-robin claims), then under a key limit with only 10 keys.
    Fairness,
    /// A backlog kept full for `--sustained-for` with no manual vacuum, sampled every
    /// `--sample-every` (run only when named in `--only`: it takes 10 minutes by default).
    Sustained,
}

/// `pgtide bench` flags. The defaults are the workloads of docs/performance.md.
#[derive(Debug, Clone, Args, Serialize)]
pub(crate) struct Settings {
    /// Jobs per drain (throughput, backlog, limit).
    #[arg(long, default_value_t = 20_000)]
    pub(crate) jobs: usize,
    /// Jobs per bulk-enqueue call.
    #[arg(long, default_value_t = 1_000)]
    pub(crate) batch: usize,
    /// Worker concurrency of the drains.
    #[arg(long, default_value_t = 16)]
    pub(crate) concurrency: usize,
    /// Jobs of the latency workload, enqueued one at a time.
    #[arg(long, default_value_t = 200)]
    pub(crate) latency_jobs: usize,
    /// Fixed interval between the latency workload's enqueues.
    #[arg(long, default_value = "20ms", value_parser = humantime::parse_duration)]
    #[serde(with = "humantime_serde")]
    pub(crate) latency_interval: Duration,
    /// Scheduled rows, and as many succeeded rows, already in the table for the backlog drain.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) backlog_rows: i64,
    /// Every-second cron tasks of the fire-lag workload.
    #[arg(long, default_value_t = 50)]
    pub(crate) fire_tasks: usize,
    /// How long the fire-lag workload measures.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    #[serde(with = "humantime_serde")]
    pub(crate) fire_duration: Duration,
    /// Distinct concurrency keys of the fairness workload.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) keys: usize,
    /// How long the sustained workload runs.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    #[serde(with = "humantime_serde")]
    pub(crate) sustained_for: Duration,
    /// How often the sustained workload samples its rate, dead tuples and sizes.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    #[serde(with = "humantime_serde")]
    pub(crate) sample_every: Duration,
    /// Run only these workloads (comma-separated); all but `sustained` by default.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) only: Vec<Workload>,
    /// Also write the results as JSON to this file (`-` for stdout, instead of the table).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub(crate) json: Option<PathBuf>,
    /// Name of the scratch database, created on the server and dropped afterwards.
    #[arg(long, default_value = "pgtide_bench")]
    pub(crate) scratch_db: String,
    /// Keep the scratch database afterwards, to look at the rows.
    #[arg(long)]
    pub(crate) keep: bool,
    /// The `--config` file, whose `[worker]` settings the measured worker uses.
    #[arg(skip)]
    pub(crate) worker_config: Option<PathBuf>,
}

impl Settings {
    fn validate(&self) -> crate::Result<()> {
        let positive = [
            ("jobs", self.jobs),
            ("batch", self.batch),
            ("concurrency", self.concurrency),
            ("latency_jobs", self.latency_jobs),
            ("fire_tasks", self.fire_tasks),
            ("keys", self.keys),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(crate::Error::invalid(field, value, "an integer >= 1"));
            }
        }
        if self.backlog_rows < 1 {
            return Err(crate::Error::invalid(
                "backlog_rows",
                self.backlog_rows,
                "an integer >= 1",
            ));
        }
        if self.sample_every < Duration::from_secs(1) || self.sustained_for < self.sample_every * 2
        {
            return Err(crate::Error::invalid(
                "sample_every",
                humantime::format_duration(self.sample_every),
                format!(
                    "a duration >= 1s and at most half of sustained_for ({})",
                    humantime::format_duration(self.sustained_for)
                ),
            ));
        }
        if self.fire_duration < Duration::from_secs(1) {
            return Err(crate::Error::invalid(
                "fire_duration",
                humantime::format_duration(self.fire_duration),
                "a duration >= 1s",
            ));
        }
        let name_ok = !self.scratch_db.is_empty()
            && self
                .scratch_db
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            return Err(crate::Error::invalid(
                "scratch_db",
                &self.scratch_db,
                "a database name of lowercase letters, digits and _",
            ));
        }
        Ok(())
    }

    fn runs(&self, workload: Workload) -> bool {
        if self.only.is_empty() {
            workload != Workload::Sustained
        } else {
            self.only.contains(&workload)
        }
    }
}

/// Runs the selected workloads against the server of `url` and prints the report.
pub(crate) async fn run(url: &str, settings: Settings) -> crate::Result<()> {
    settings.validate()?;
    let scratch = with_database_name(url, &settings.scratch_db);
    recreate(url, &settings.scratch_db).await?;
    let result = measure(&scratch, &settings).await;
    if !settings.keep {
        if let Err(e) = drop_database(url, &settings.scratch_db).await {
            eprintln!("warning: could not drop the scratch database: {e}");
        }
    }
    result?.print(settings.json.as_deref())
}

async fn measure(url: &str, settings: &Settings) -> crate::Result<Report> {
    let db = Database::connect(url, 4)?;
    pgtide::migrate(&db).await?;
    let client = db.client().await?;
    client.batch_execute(LIMIT_PROCEDURE).await?;
    let facts = client.query_one(SERVER_FACTS, &[]).await?;
    drop(client);
    let progress = Progress::new();
    let bench = Bench {
        url,
        db,
        monitor: Database::connect(url, 1)?,
        settings,
        progress: &progress,
    };
    let mut report = Report::new(settings, &facts);
    if settings.runs(Workload::Throughput) {
        report.throughput = Some(bench.throughput().await?);
    }
    if settings.runs(Workload::Limit) {
        report.limit = Some(bench.limit().await?);
    }
    if settings.runs(Workload::Latency) {
        report.latency = Some(bench.latency().await?);
    }
    if settings.runs(Workload::FireLag) {
        report.fire_lag = Some(bench.fire_lag().await?);
    }
    if settings.runs(Workload::Backlog) {
        report.backlog = Some(bench.backlog().await?);
    }
    if settings.runs(Workload::Sql) {
        report.sql = Some(bench.sql().await?);
    }
    if settings.runs(Workload::Fairness) {
        report.fairness = Some(bench.fairness().await?);
    }
    if settings.runs(Workload::Sustained) {
        report.sustained = Some(bench.sustained().await?);
    }
    progress.finish();
    Ok(report)
}

/// `url` with its database replaced by `name`: a later `dbname` wins in both URL and key=value forms.
fn with_database_name(url: &str, name: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}dbname={name}")
    } else {
        format!("{url} dbname={name}")
    }
}

async fn recreate(url: &str, name: &str) -> crate::Result<()> {
    drop_database(url, name).await?;
    let db = Database::connect(url, 1)?;
    db.client()
        .await?
        .batch_execute(&format!("create database {name}"))
        .await
        .map_err(|e| {
            crate::Error::Run(format!(
                "cannot create the scratch database {name:?} (the bench needs CREATEDB on this \
                 server, or pick another name with --scratch-db): {e}"
            ))
        })
}

async fn drop_database(url: &str, name: &str) -> crate::Result<()> {
    let db = Database::connect(url, 1)?;
    db.client()
        .await?
        .batch_execute(&format!("drop database if exists {name} with (force)"))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::with_database_name;

    #[test]
    fn the_scratch_database_replaces_the_urls() {
        assert_eq!(
            with_database_name("postgres://u@h:5/app", "b"),
            "postgres://u@h:5/app?dbname=b"
        );
        assert_eq!(
            with_database_name("postgres://u@h/app?sslmode=disable", "b"),
            "postgres://u@h/app?sslmode=disable&dbname=b"
        );
        assert_eq!(
            with_database_name("host=h dbname=app", "b"),
            "host=h dbname=app dbname=b"
        );
    }
}

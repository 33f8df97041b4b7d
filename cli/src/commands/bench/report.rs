//! The bench's results: a table for people, JSON for tools, and the targets of docs/performance.md
//! judged within the run (ratios to the same run's `limit` and empty-table drain, not absolute
//! numbers from another day).

use std::path::Path;

use serde::Serialize;

use super::{
    sustained::Sustained,
    workloads::{Backlog, Drain, Fairness, FireLag, Latency, Limit},
    Settings,
};

#[derive(Debug, Serialize)]
pub(crate) struct Server {
    pub(crate) version: String,
    pub(crate) fsync: String,
    pub(crate) synchronous_commit: String,
    pub(crate) shared_buffers: String,
    pub(crate) cpus: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct Target {
    pub(crate) workload: &'static str,
    pub(crate) figure: String,
    pub(crate) target: &'static str,
    pub(crate) met: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) settings: Settings,
    pub(crate) server: Server,
    pub(crate) throughput: Option<Drain>,
    pub(crate) limit: Option<Limit>,
    pub(crate) latency: Option<Latency>,
    pub(crate) fire_lag: Option<FireLag>,
    pub(crate) backlog: Option<Backlog>,
    pub(crate) sql: Option<Drain>,
    pub(crate) fairness: Option<Fairness>,
    pub(crate) sustained: Option<Sustained>,
}

impl Report {
    pub(crate) fn new(settings: &Settings, facts: &tokio_postgres::Row) -> Self {
        Self {
            settings: settings.clone(),
            server: Server {
                version: facts.get("version"),
                fsync: facts.get("fsync"),
                synchronous_commit: facts.get("synchronous_commit"),
                shared_buffers: facts.get("shared_buffers"),
                cpus: std::thread::available_parallelism().map_or(1, usize::from),
            },
            throughput: None,
            limit: None,
            latency: None,
            fire_lag: None,
            backlog: None,
            sql: None,
            fairness: None,
            sustained: None,
        }
    }

    /// The targets this run can judge.
    pub(crate) fn targets(&self) -> Vec<Target> {
        let mut targets = Vec::new();
        if let Some(t) = &self.throughput {
            targets.push(Target {
                workload: "throughput",
                figure: format!("enqueue {} jobs/s", thousands(t.enqueue_per_sec)),
                target: ">= 80,000 jobs/s",
                met: t.enqueue_per_sec >= 80_000.0,
            });
            let share = self
                .limit
                .as_ref()
                .map(|l| t.drain_per_sec / l.drain_per_sec);
            targets.push(Target {
                workload: "throughput",
                figure: match share {
                    Some(share) => format!(
                        "drain {} jobs/s = {:.0}% of limit",
                        thousands(t.drain_per_sec),
                        share * 100.0
                    ),
                    None => format!("drain {} jobs/s", thousands(t.drain_per_sec)),
                },
                target: ">= 25,000 jobs/s or >= 55% of limit",
                met: t.drain_per_sec >= 25_000.0 || share.is_some_and(|s| s >= 0.55),
            });
            targets.push(Target {
                workload: "throughput",
                figure: format!("worker peak RSS {:.1} MiB", t.worker_peak_rss_mib),
                target: "<= 40 MiB",
                met: t.worker_peak_rss_mib <= 40.0,
            });
        }
        if let Some(l) = &self.latency {
            targets.push(Target {
                workload: "latency",
                figure: format!("p50 {:.2} ms", l.p50_ms),
                target: "<= 1.5 ms",
                met: l.p50_ms <= 1.5,
            });
            targets.push(Target {
                workload: "latency",
                figure: format!("p99 {:.2} ms", l.p99_ms),
                target: "<= 4 ms",
                met: l.p99_ms <= 4.0,
            });
        }
        if let (Some(b), Some(t)) = (&self.backlog, &self.throughput) {
            let ratio = b.drain.drain_per_sec / t.drain_per_sec;
            targets.push(Target {
                workload: "backlog",
                figure: format!("drain at {:.0}% of the empty-table drain", ratio * 100.0),
                target: ">= 80%",
                met: ratio >= 0.8,
            });
        }
        if let (Some(q), Some(t)) = (&self.sql, &self.throughput) {
            let ratio = q.drain_per_sec / t.drain_per_sec;
            targets.push(Target {
                workload: "sql",
                figure: format!("drain at {:.0}% of the no-op drain", ratio * 100.0),
                target: ">= 50%",
                met: ratio >= 0.5,
            });
        }
        if let Some(f) = &self.fairness {
            let ratio = f.keyed.drain_per_sec / f.plain.drain_per_sec;
            targets.push(Target {
                workload: "fairness",
                figure: format!(
                    "key-limited drain over {} keys at {:.0}% of the plain drain",
                    thousands(f.keys as f64),
                    ratio * 100.0
                ),
                target: ">= 70%",
                met: ratio >= 0.7,
            });
        }
        if let Some(s) = &self.sustained {
            let ratio = s.worst_per_sec / s.median_per_sec.max(1e-9);
            targets.push(Target {
                workload: "sustained",
                figure: format!(
                    "worst {} s at {:.0}% of the median",
                    self.settings.sample_every.as_secs(),
                    ratio * 100.0
                ),
                target: ">= 70%",
                met: ratio >= 0.7,
            });
            let growth = s.table_mib_end / s.table_mib_half.max(1e-9);
            targets.push(Target {
                workload: "sustained",
                figure: format!(
                    "table {:.0} MiB at half time, {:.0} MiB at the end",
                    s.table_mib_half, s.table_mib_end
                ),
                target: "plateau: end <= 110% of half time",
                met: growth <= 1.1,
            });
        }
        if let Some(f) = &self.fire_lag {
            targets.push(Target {
                workload: "fire lag",
                figure: format!("p99 {:.1} ms", f.p99_ms),
                target: "<= 50 ms",
                met: f.p99_ms <= 50.0,
            });
        }
        targets
    }

    /// One row per figure.
    fn rows(&self) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = |workload: &str, figure: &str, value: String| {
            rows.push(vec![workload.to_string(), figure.to_string(), value]);
        };
        let per_sec = |v: f64| format!("{} jobs/s", thousands(v));
        let ms = |v: f64| format!("{v:.2} ms");
        if let Some(t) = &self.throughput {
            row("throughput", "bulk enqueue", per_sec(t.enqueue_per_sec));
            row("throughput", "drain", per_sec(t.drain_per_sec));
            row("throughput", "drain time", format!("{:.3} s", t.drain_secs));
            row(
                "throughput",
                "worker peak RSS",
                format!("{:.1} MiB", t.worker_peak_rss_mib),
            );
        }
        if let Some(l) = &self.limit {
            row("limit", "server-side drain", per_sec(l.drain_per_sec));
            if let Some(t) = &self.throughput {
                row(
                    "limit",
                    "pgtide drain / limit",
                    format!("{:.0}%", 100.0 * t.drain_per_sec / l.drain_per_sec),
                );
            }
        }
        if let Some(l) = &self.latency {
            row("latency", "pickup p50", ms(l.p50_ms));
            row("latency", "pickup p95", ms(l.p95_ms));
            row("latency", "pickup p99", ms(l.p99_ms));
            row("latency", "pickup max", ms(l.max_ms));
        }
        if let Some(f) = &self.fire_lag {
            row("fire lag", "p50", ms(f.p50_ms));
            row("fire lag", "p99", ms(f.p99_ms));
            row("fire lag", "max", ms(f.max_ms));
            row(
                "fire lag",
                "slots fired / missed / doubled",
                format!("{} / {} / {}", f.fired, f.missed, f.doubled),
            );
        }
        if let Some(b) = &self.backlog {
            row("backlog", "ballast rows", thousands(b.ballast_rows as f64));
            row("backlog", "bulk enqueue", per_sec(b.drain.enqueue_per_sec));
            row("backlog", "drain", per_sec(b.drain.drain_per_sec));
            if let Some(t) = &self.throughput {
                row(
                    "backlog",
                    "drain / empty-table drain",
                    format!("{:.0}%", 100.0 * b.drain.drain_per_sec / t.drain_per_sec),
                );
            }
        }
        if let Some(s) = &self.sustained {
            row("sustained", "jobs done", thousands(s.jobs as f64));
            row("sustained", "median", per_sec(s.median_per_sec));
            row("sustained", "worst", per_sec(s.worst_per_sec));
            for sample in &s.samples {
                row(
                    "sustained",
                    &format!("at {:>4.0} s", sample.at_secs),
                    format!(
                        "{:>7} jobs/s  backlog {:>6}  dead {:>9}  live {:>9}  table {:>6.1} MiB  \
                         indexes {:>6.1} MiB  vacuums {:>3} + {:>2} auto  checkpoints {}",
                        thousands(sample.per_sec),
                        sample.backlog,
                        sample.dead_tuples,
                        sample.live_tuples,
                        sample.table_mib,
                        sample.indexes_mib,
                        sample.vacuums,
                        sample.autovacuums,
                        sample.checkpoints
                    ),
                );
            }
        }
        if let Some(f) = &self.fairness {
            let keys = thousands(f.keys as f64);
            row(
                "fairness",
                &format!("drain, {keys} keys, no key limit"),
                per_sec(f.plain.drain_per_sec),
            );
            row(
                "fairness",
                &format!("drain, {keys} keys, key limit 1"),
                per_sec(f.keyed.drain_per_sec),
            );
            row(
                "fairness",
                "drain, 10 keys, key limit",
                per_sec(f.few_keys.drain_per_sec),
            );
            row(
                "fairness",
                "key-limited / plain",
                format!(
                    "{:.0}%",
                    100.0 * f.keyed.drain_per_sec / f.plain.drain_per_sec
                ),
            );
            row(
                "fairness",
                &format!("{keys} keys / 10 keys"),
                format!(
                    "{:.0}%",
                    100.0 * f.keyed.drain_per_sec / f.few_keys.drain_per_sec
                ),
            );
        }
        if let Some(q) = &self.sql {
            row("sql", "drain", per_sec(q.drain_per_sec));
            if let Some(t) = &self.throughput {
                row(
                    "sql",
                    "drain / no-op drain",
                    format!("{:.0}%", 100.0 * q.drain_per_sec / t.drain_per_sec),
                );
            }
        }
        rows
    }

    /// Prints the table (unless the JSON goes to stdout) and writes the JSON if asked.
    pub(crate) fn print(&self, json: Option<&Path>) -> crate::Result<()> {
        if let Some(path) = json {
            let mut value = serde_json::to_value(self)
                .map_err(|e| crate::Error::Run(format!("encoding the report: {e}")))?;
            value["targets"] = serde_json::to_value(self.targets())
                .map_err(|e| crate::Error::Run(format!("encoding the report: {e}")))?;
            if path == Path::new("-") {
                return crate::commands::table::json(&value);
            }
            let text = serde_json::to_string_pretty(&value).expect("a JSON value encodes");
            std::fs::write(path, text + "\n")
                .map_err(|e| crate::Error::Run(format!("writing {}: {e}", path.display())))?;
        }
        let s = &self.settings;
        println!(
            "pgtide bench: {} jobs per drain, concurrency {}, {} CPUs, {}, fsync={}, synchronous_commit={}",
            s.jobs,
            s.concurrency,
            self.server.cpus,
            self.server.version.split(" on ").next().unwrap_or_default(),
            self.server.fsync,
            self.server.synchronous_commit,
        );
        println!();
        crate::commands::table::print(&["workload", "figure", "result"], &self.rows());
        let targets = self.targets();
        if !targets.is_empty() {
            println!();
            let rows: Vec<Vec<String>> = targets
                .into_iter()
                .map(|t| {
                    vec![
                        t.workload.to_string(),
                        t.figure,
                        t.target.to_string(),
                        if t.met { "met" } else { "MISSED" }.to_string(),
                    ]
                })
                .collect();
            crate::commands::table::print(&["workload", "measured", "target", ""], &rows);
        }
        Ok(())
    }
}

/// `12345.6` as `12,346`.
pub(crate) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(12_345.6), "12,346");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
    }
}

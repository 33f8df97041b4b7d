//! The worker under test runs in a process of its own (`pgtide bench-worker`, hidden), as it does in
//! production: its memory is measured alone, and it shares the two cores with Postgres and the bench
//! the way a real deployment does.
//!
//! The protocol over its stdin and stdout is one line each way: the child connects, builds its
//! worker and prints `ready`; the bench writes `go` and starts its clock; closing stdin stops the
//! worker gracefully.

use std::{
    process::Stdio,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::settings::Config;
use clap::Args;
use pgtide::{async_trait, Database, Handler, HandlerResult, Job, Worker, WorkerConfig};
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, ChildStdin, Command},
};
use tokio_util::sync::CancellationToken;

/// The hidden `pgtide bench-worker` subcommand.
#[derive(Debug, Clone, Args)]
pub(crate) struct BenchWorkerArgs {
    /// The one queue to claim from.
    #[arg(long)]
    queue: String,
    /// Jobs run at once.
    #[arg(long)]
    concurrency: usize,
}

/// Handler name of the latency probe.
pub(crate) const LATENCY_PROBE: &str = "bench_latency";
/// Handler name of the sql workload: a sql handler that writes each job's payload into a ledger.
pub(crate) const LEDGER: &str = "bench_ledger";
const LEDGER_INSERT: &str = include_str!("../../../sql/bench/ledger_insert.sql");

/// Records how long ago its job was enqueued: the payload's `ts_us` (microseconds since the epoch,
/// taken by the bench just before the enqueue call) against the clock at the handler's start. The
/// figure lands in the execution's `result`, where the bench reads it back.
struct LatencyProbe;

#[async_trait]
impl Handler for LatencyProbe {
    async fn run(&self, job: &Job) -> HandlerResult {
        let now = epoch_micros();
        let sent = job.payload["ts_us"].as_i64().unwrap_or(now);
        Ok(Some(json!({ "lag_us": now - sent })))
    }
}

/// Microseconds since the Unix epoch on the wall clock (shared by every process on the machine).
pub(crate) fn epoch_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Body of `pgtide bench-worker`: a plain [`Worker`] with `noop`, the latency probe and the ledger
/// handler.
pub(crate) async fn serve(url: &str, args: BenchWorkerArgs) -> crate::Result<()> {
    let db = Database::connect(url, args.concurrency + 4)?;
    // The worker settings of `pgtide --config FILE bench` apply (to try a completion window, say);
    // the queue and the concurrency are the bench's.
    let config = match std::env::var_os("PGTIDE_CONFIG") {
        Some(path) => Config::load(std::path::Path::new(&path))?,
        None => Config::default(),
    };
    let no_flags = crate::commands::WorkerArgs::default();
    let worker = Worker::builder(db)
        .config(WorkerConfig {
            queues: vec![args.queue],
            concurrency: args.concurrency,
            ..crate::commands::serve::worker_config(&config, &no_flags, false)
        })
        .handler(LATENCY_PROBE, LatencyProbe)
        .sql_handler(LEDGER, pgtide::SqlHandler::new(LEDGER_INSERT.trim()))
        .build()?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    stdout.write_all(b"ready\n").await.map_err(io_error)?;
    stdout.flush().await.map_err(io_error)?;
    if lines.next_line().await.map_err(io_error)?.is_none() {
        return Ok(());
    }
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        while let Ok(Some(_)) = lines.next_line().await {}
        stop.cancel();
    });
    Ok(worker.run(shutdown).await?)
}

fn io_error(e: std::io::Error) -> crate::Error {
    crate::Error::Run(format!("bench-worker stdio: {e}"))
}

/// A `pgtide bench-worker` child process, ready and waiting for `go`.
pub(crate) struct WorkerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    pid: u32,
}

impl WorkerProcess {
    /// Starts a worker process on `queue` and waits until it is ready.
    pub(crate) async fn spawn(
        url: &str,
        queue: &str,
        concurrency: usize,
        config: Option<&std::path::Path>,
    ) -> crate::Result<Self> {
        let exe = std::env::current_exe().map_err(|e| {
            crate::Error::Run(format!(
                "cannot find the pgtide binary to start a worker: {e}"
            ))
        })?;
        let mut command = Command::new(exe);
        match config {
            Some(path) => command.env("PGTIDE_CONFIG", path),
            None => command.env_remove("PGTIDE_CONFIG"),
        };
        let mut child = command
            .args(["bench-worker", "--queue", queue, "--concurrency"])
            .arg(concurrency.to_string())
            .env("DATABASE_URL", url)
            .env(
                "RUST_LOG",
                std::env::var("PGTIDE_BENCH_WORKER_LOG").unwrap_or("warn".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| crate::Error::Run(format!("starting the bench worker: {e}")))?;
        let pid = child.id().unwrap_or_default();
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        if !matches!(ready, Ok(Ok(Some(ref line))) if line == "ready") {
            return Err(crate::Error::Run(format!(
                "the bench worker did not start (got {ready:?}); see its log above"
            )));
        }
        let stdin = child.stdin.take();
        Ok(Self { child, stdin, pid })
    }

    /// Lets the worker start claiming.
    pub(crate) async fn go(&mut self) -> crate::Result<()> {
        let stdin = self.stdin.as_mut().expect("go is called once, before stop");
        stdin.write_all(b"go\n").await.map_err(io_error)?;
        stdin.flush().await.map_err(io_error)
    }

    /// Resident memory now and at its peak, in bytes (`VmRSS`, `VmHWM` of /proc/PID/status).
    pub(crate) fn memory(&self) -> Option<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .map(|kb| kb * 1024)
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Stops the worker gracefully (it records what it holds) and waits for it to exit.
    pub(crate) async fn stop(mut self) -> crate::Result<()> {
        drop(self.stdin.take());
        match tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(crate::Error::Run(format!(
                "the bench worker exited with {status}"
            ))),
            Ok(Err(e)) => Err(io_error(e)),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(crate::Error::Run(
                    "the bench worker did not stop within 60 s".into(),
                ))
            }
        }
    }
}

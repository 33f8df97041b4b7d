//! The `pgtide` command line. Each subcommand is a thin shell over the library (and so over the same
//! SQL functions psql users call).

mod admin;
mod alerts;
mod bench;
mod demo;
pub(crate) mod serve;
mod table;
mod when;

use std::{path::PathBuf, time::Duration};

use clap::{builder::BoolishValueParser, ArgAction, Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::settings::Config;
use pgtide::embedded::{EmbeddedOptions, EmbeddedPostgres};

/// A task scheduler and job queue with one dependency: PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "pgtide", version, about, propagate_version = true)]
pub struct Cli {
    /// Postgres connection string. Without one, `run` and `demo` start a private cluster in ./.pgtide/.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// pgtide.toml with worker settings and handlers.
    #[arg(long, env = "PGTIDE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// The database URL is a transaction pooler (PgBouncer, pool_mode = transaction): poll instead of
    /// LISTEN and keep no session state. Run `pgtide migrate` on a direct URL first. The same as
    /// `[worker] listen = false`.
    #[arg(long, env = "PGTIDE_NO_LISTEN", global = true, action = ArgAction::SetTrue,
          value_parser = BoolishValueParser::new())]
    no_listen: bool,
    /// Log lines as text (coloured on a terminal) or as one JSON object per line.
    #[arg(long, env = "PGTIDE_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines; ANSI colours only when stderr is a terminal.
    Text,
    /// One JSON object per line: timestamp, level, target, message and the event's fields.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending schema migrations and exit.
    Migrate {
        /// Print the pending SQL (with the rows that record it as applied) instead of running it,
        /// for teams that apply migrations with their own tool.
        #[arg(long)]
        print: bool,
    },
    /// Run a worker (and take part in the maintenance leader election).
    Worker(WorkerArgs),
    /// Run a scheduler: fire cron, interval and one-shot tasks into the queue.
    Scheduler(ServiceArgs),
    /// Run everything this process can: worker, maintenance and scheduler.
    Run(WorkerArgs),
    /// Manage tasks: add, list, show, pause, resume, trigger, rm, history, next.
    #[command(subcommand)]
    Task(admin::TaskCommand),
    /// Enqueue a job; prints its execution id.
    Enqueue(admin::EnqueueArgs),
    /// Inspect and cancel executions.
    #[command(subcommand)]
    Jobs(admin::JobsCommand),
    /// The dead-letter queue: list and requeue.
    #[command(subcommand)]
    Dlq(admin::DlqCommand),
    /// Pause, resume and limit queues.
    #[command(subcommand)]
    Queue(admin::QueueCommand),
    /// Per-queue counts, once or refreshed in place with --watch.
    Stats(admin::StatsArgs),
    /// Alerts firing now (and, with --history N, the latest firing and resolved events).
    Alerts(alerts::AlertsArgs),
    /// Ask a running pgtide's probe (default /readyz) and exit 0 when it answers 200: a container
    /// HEALTHCHECK that needs no curl.
    Probe(ProbeArgs),
    /// Show pgtide at work: demo jobs that succeed, retry, die, and wait, with a live view.
    Demo,
    /// Measure throughput, pickup latency, backlog, cron fire lag and the server-side limit, in a
    /// scratch database on the embedded cluster or the server of --database-url.
    Bench(bench::Settings),
    /// The worker process `pgtide bench` measures (internal).
    #[command(hide = true)]
    BenchWorker(bench::BenchWorkerArgs),
}

/// Flags shared by `worker` and `run`; each overrides the config file.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct WorkerArgs {
    /// Queues to claim from, comma-separated.
    #[arg(long, env = "PGTIDE_QUEUES", value_delimiter = ',')]
    queues: Option<Vec<String>>,
    /// Jobs run at once.
    #[arg(long, env = "PGTIDE_CONCURRENCY")]
    concurrency: Option<usize>,
    /// How long a stopping worker waits for held jobs (e.g. 30s, 2m).
    #[arg(long, env = "PGTIDE_SHUTDOWN_GRACE", value_parser = humantime::parse_duration)]
    shutdown_grace: Option<Duration>,
    /// Lease per claimed job, extended by heartbeats (e.g. 30s).
    #[arg(long, env = "PGTIDE_LEASE", value_parser = humantime::parse_duration)]
    lease: Option<Duration>,
    /// Don't take part in the maintenance leader election (promoter, rescuer, pruner).
    #[arg(long, env = "PGTIDE_NO_MAINTENANCE", action = ArgAction::SetTrue,
          value_parser = BoolishValueParser::new())]
    no_maintenance: bool,
    #[command(flatten)]
    service: ServiceArgs,
}

/// `pgtide probe`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ProbeArgs {
    /// The address the process serves --http on.
    #[arg(env = "PGTIDE_HTTP", value_name = "ADDR")]
    addr: std::net::SocketAddr,
    /// The probe: /readyz, /livez or /healthz.
    #[arg(long, default_value = "/readyz")]
    path: String,
    /// How long to wait for the answer (e.g. 2s).
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// Flags of every long-running command (`run`, `worker`, `scheduler`).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ServiceArgs {
    /// Serve the HTTP API, the console, /metrics and the probes (/livez, /readyz, /healthz) on this
    /// address (e.g. 127.0.0.1:8080).
    #[arg(long, env = "PGTIDE_HTTP", value_name = "ADDR")]
    http: Option<std::net::SocketAddr>,
    /// Bearer token the HTTP API requires; needed to listen on a non-loopback address.
    #[arg(long, env = "PGTIDE_API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    /// Change no schema: check that it is current and stop if it is not (`pgtide migrate` is then
    /// the one step that migrates, before the workers are rolled).
    #[arg(long, env = "PGTIDE_NO_MIGRATE", action = ArgAction::SetTrue,
          value_parser = BoolishValueParser::new())]
    no_migrate: bool,
}

impl Cli {
    /// The log level when RUST_LOG is unset: the demo keeps the screen for its live view.
    pub(crate) fn default_log_level(&self) -> &'static str {
        match self.command {
            Command::Demo => "error",
            Command::Bench(_) => "warn",
            _ => "info",
        }
    }

    pub(crate) async fn run(self) -> crate::Result<()> {
        let config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        let url = self
            .database_url
            .clone()
            .or_else(|| config.database_url.clone());
        // `[worker] listen = false` means what --no-listen means: poll-only mode for transaction
        // poolers, for every part of the process (worker, scheduler, admin statements).
        let no_listen = self.no_listen || config.worker.listen == Some(false);
        match self.command {
            Command::Migrate { print: true } => {
                let db = serve::database(&require_url(url)?, 2, None, no_listen)?;
                print!("{}", pgtide::migrate::pending_sql(&db).await?);
                Ok(())
            }
            Command::Migrate { print: false } => {
                let db = serve::database(&require_url(url)?, 2, None, no_listen)?;
                let report = pgtide::migrate(&db).await?;
                if report.is_empty() {
                    println!("schema is up to date");
                } else {
                    let names: Vec<String> = (report.applied.iter().cloned())
                        .chain(
                            report
                                .schema_files
                                .iter()
                                .map(|f| format!("sql/schema/{f}")),
                        )
                        .collect();
                    println!("applied: {}", names.join(", "));
                }
                Ok(())
            }
            Command::Worker(args) => {
                let db_url = require_url(url)?;
                serve::run(&db_url, &config, &args, serve::Mode::Worker, no_listen).await
            }
            Command::Scheduler(args) => {
                let db_url = require_url(url)?;
                serve::run_scheduler(&db_url, &args, no_listen).await
            }
            Command::Task(command) => {
                admin::task(&admin::connect(&require_url(url)?, no_listen)?, command).await
            }
            Command::Enqueue(args) => {
                admin::enqueue(&admin::connect(&require_url(url)?, no_listen)?, args).await
            }
            Command::Jobs(command) => {
                admin::jobs(&admin::connect(&require_url(url)?, no_listen)?, command).await
            }
            Command::Dlq(command) => {
                admin::dlq(&admin::connect(&require_url(url)?, no_listen)?, command).await
            }
            Command::Queue(command) => {
                admin::queue(&admin::connect(&require_url(url)?, no_listen)?, command).await
            }
            Command::Stats(args) => {
                admin::stats(&admin::connect(&require_url(url)?, no_listen)?, args).await
            }
            Command::Alerts(args) => {
                alerts::run(&admin::connect(&require_url(url)?, no_listen)?, args).await
            }
            Command::Run(args) => {
                with_database(url, |db_url| async move {
                    serve::run(&db_url, &config, &args, serve::Mode::All, no_listen).await
                })
                .await
            }
            Command::Probe(args) => probe(&args).await,
            Command::Demo => {
                with_database(url, |db_url| async move { demo::run(&db_url).await }).await
            }
            Command::Bench(mut settings) => {
                settings.worker_config = self.config.clone();
                with_database(
                    url,
                    |db_url| async move { bench::run(&db_url, settings).await },
                )
                .await
            }
            Command::BenchWorker(args) => bench::serve_worker(&require_url(url)?, args).await,
        }
    }
}

pub(crate) fn print_preview(name: &str, preview: &pgtide::scheduler::Preview) {
    let tz: Option<chrono_tz::Tz> = preview.timezone.parse().ok();
    if preview.status != "active" {
        println!(
            "task {name:?} is {}; if it were active, its next slots would be:",
            preview.status
        );
    }
    if preview.slots.is_empty() {
        println!("task {name:?} has no upcoming slots");
    }
    for slot in &preview.slots {
        let utc = slot.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match tz {
            Some(tz) => println!(
                "{}  {utc}",
                slot.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z (%:z)")
            ),
            None => println!("{utc}"),
        }
    }
}

/// `pgtide probe`: one GET of the probe; success when it answers 200.
async fn probe(args: &ProbeArgs) -> crate::Result<()> {
    let url = format!("http://{}{}", args.addr, args.path);
    let client = reqwest::Client::builder()
        .timeout(args.timeout)
        .build()
        .map_err(|e| crate::Error::Run(format!("probe {url}: {e}")))?;
    let answer = client
        .get(&url)
        .send()
        .await
        .map_err(|e| crate::Error::Run(format!("probe {url}: no answer ({e})")))?;
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    if status.is_success() {
        println!("{body}");
        Ok(())
    } else {
        Err(crate::Error::Run(format!("probe {url}: {status}: {body}")))
    }
}

fn require_url(url: Option<String>) -> crate::Result<String> {
    url.ok_or_else(|| {
        pgtide::Error::Invalid {
            field: "database_url",
            value: "(none)".into(),
            expected: "--database-url URL, DATABASE_URL, or database_url in the config file".into(),
        }
        .into()
    })
}

/// Runs `body` against `url`, or against the embedded cluster in ./.pgtide/ when there is no URL.
async fn with_database<F, Fut>(url: Option<String>, body: F) -> crate::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = crate::Result<()>>,
{
    if let Some(url) = url {
        return body(url).await;
    }
    eprintln!("No database URL given: starting the embedded Postgres cluster in ./.pgtide/ ...");
    let cluster = tokio::task::spawn_blocking(|| {
        EmbeddedPostgres::start(std::path::Path::new(".pgtide"), &EmbeddedOptions::default())
    })
    .await
    .expect("embedded start does not panic")?;
    if let Some(asked) = cluster.asked_for() {
        eprintln!(
            "The postgres OS user cannot reach {}, so the cluster lives in {} ({} links to it).",
            asked.parent().unwrap_or(asked).display(),
            cluster.dir().display(),
            asked.display()
        );
    }
    eprintln!(
        "Embedded Postgres is up. Connect with:\n    {}\n(over a private Unix socket; TCP on \
         127.0.0.1:{} takes the password in {})\n",
        cluster.psql_command(),
        cluster.port(),
        cluster.dir().join("password").display()
    );
    let result = body(cluster.url("postgres")).await;
    if cluster.started_here() {
        eprintln!(
            "Stopping the embedded Postgres cluster (data stays in {}).",
            cluster.dir().display()
        );
    }
    if let Err(e) = tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .expect("embedded stop does not panic")
    {
        eprintln!("warning: {e}");
    }
    result
}

/// A token cancelled by the first SIGINT or SIGTERM. A second signal exits at once.
pub(crate) fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested; finishing held jobs (signal again to exit at once)");
        cancel.cancel();
        wait_for_signal().await;
        tracing::warn!(
            "second signal: exiting now; held jobs keep their leases and will be rescued"
        );
        std::process::exit(130);
    });
    token
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

//! `pgtide worker` and `pgtide run`: build a worker (and maintenance) from the config file and flags,
//! run until SIGINT/SIGTERM, and stop gracefully.

use crate::settings::Config;
use pgtide::{
    handlers::Registry,
    maintenance::{Maintenance, MaintenanceConfig},
    scheduler::{Scheduler, SchedulerConfig},
    Database, Worker, WorkerConfig,
};

use super::{shutdown_on_signal, ServiceArgs, WorkerArgs};

/// What this process runs besides the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `pgtide worker`.
    Worker,
    /// `pgtide run`.
    All,
}

/// A database handle; in pooler mode (`--no-listen`) it keeps no session state.
pub(crate) fn database(
    url: &str,
    pool_size: usize,
    application_name: Option<&str>,
    pooler: bool,
) -> crate::Result<Database> {
    let db = match application_name {
        Some(name) => Database::connect_as(url, pool_size, name)?,
        None => Database::connect(url, pool_size)?,
    };
    Ok(if pooler {
        db.for_transaction_pooler()
    } else {
        db
    })
}

/// The worker settings: defaults, then the config file, then flags.
pub(crate) fn worker_config(config: &Config, args: &WorkerArgs, no_listen: bool) -> WorkerConfig {
    let file = config.worker.overlay(WorkerConfig::default());
    WorkerConfig {
        queues: args.queues.clone().unwrap_or(file.queues),
        concurrency: args.concurrency.unwrap_or(file.concurrency),
        lease: args.lease.unwrap_or(file.lease),
        shutdown_grace: args.shutdown_grace.unwrap_or(file.shutdown_grace),
        listen: !no_listen && file.listen,
        ..file
    }
}

/// The maintenance settings: defaults, then the config file (with its alert rules).
pub(crate) fn maintenance_config(config: &Config) -> MaintenanceConfig {
    MaintenanceConfig {
        alerts: config.alert_config.clone(),
        ..config.maintenance.overlay(MaintenanceConfig::default())
    }
}

pub(crate) async fn run(
    url: &str,
    config: &Config,
    args: &WorkerArgs,
    mode: Mode,
    no_listen: bool,
) -> crate::Result<()> {
    let worker_config = worker_config(config, args, no_listen);
    let service = &args.service;
    // Refuse an exposed API before anything starts.
    if let Some(addr) = service.http {
        pgtide::web::check_exposure(addr, service.api_token.as_deref())?;
    }
    let db = database(url, worker_config.concurrency + 4, None, no_listen)?;
    let shutdown = shutdown_on_signal();
    if !start(&db, service, &shutdown).await? {
        return Ok(());
    }
    let mut registry = Registry::new();
    registry.extend_from_config(&config.handlers)?;
    let worker = Worker::builder(db.clone())
        .config(worker_config)
        .registry(registry)
        .build()?;

    // Every process takes part in the maintenance election unless told not to: a fleet of plain
    // `pgtide worker` processes must still promote retries and rescue expired leases.
    let maintenance = (mode == Mode::All || !args.no_maintenance).then(|| {
        let maintenance = Maintenance::new(db.clone(), worker.id(), maintenance_config(config));
        let token = shutdown.clone();
        tokio::spawn(async move { maintenance.run(token).await })
    });
    let scheduler = (mode == Mode::All).then(|| {
        let scheduler = Scheduler::new(db.clone(), scheduler_config(no_listen));
        let token = shutdown.clone();
        tokio::spawn(async move { scheduler.run(token).await })
    });
    let api = serve_http(url, service, Some(worker.clone()), no_listen, &shutdown).await?;
    let result = worker.run(shutdown.clone()).await;
    shutdown.cancel();
    if let Some(api) = api {
        let _ = api.await;
    }
    for handle in [maintenance, scheduler].into_iter().flatten() {
        let _ = handle.await;
    }
    Ok(result?)
}

/// What every long-running command does before it starts its services: wait for a reachable,
/// writable database, then migrate, or with `--no-migrate` only check that the schema is current.
/// Returns `false` when shutdown came first.
async fn start(
    db: &Database,
    service: &ServiceArgs,
    shutdown: &tokio_util::sync::CancellationToken,
) -> crate::Result<bool> {
    // A database that is down, or a failover without a writable host yet, is waited for.
    if !db.wait_until_reachable(shutdown).await? {
        return Ok(false);
    }
    if service.no_migrate {
        pgtide::migrate::check_current(db).await?;
        return Ok(true);
    }
    let report = pgtide::migrate(db).await?;
    if !report.is_empty() {
        tracing::info!(applied = ?report.applied, schema_files = ?report.schema_files, "migrated the schema");
    }
    Ok(true)
}

/// Serves the HTTP API, the console, `/metrics` and the probes when `--http` asks for them.
async fn serve_http(
    url: &str,
    service: &ServiceArgs,
    worker: Option<Worker>,
    no_listen: bool,
    shutdown: &tokio_util::sync::CancellationToken,
) -> crate::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(addr) = service.http else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        crate::Error::invalid(
            "http",
            addr,
            format!("an address this process can listen on ({e})"),
        )
    })?;
    let api = pgtide::http::ApiState::new(
        database(url, 4, Some("pgtide-http"), no_listen)?,
        service.api_token.clone(),
        worker,
    );
    let console = pgtide::console::Console::new(
        database(url, 4, Some("pgtide-console"), no_listen)?,
        service.api_token.as_deref(),
    );
    let app = pgtide::web::App::new(api).with_console(console);
    let token = shutdown.clone();
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = pgtide::web::serve(listener, app, token).await {
            tracing::error!(error = %e, "HTTP API stopped");
        }
    })))
}

/// `pgtide scheduler`: only the scheduler (and, with `--http`, the API and probes), until
/// SIGINT/SIGTERM.
pub(crate) async fn run_scheduler(
    url: &str,
    service: &ServiceArgs,
    no_listen: bool,
) -> crate::Result<()> {
    if let Some(addr) = service.http {
        pgtide::web::check_exposure(addr, service.api_token.as_deref())?;
    }
    let db = database(url, 4, None, no_listen)?;
    let shutdown = shutdown_on_signal();
    if !start(&db, service, &shutdown).await? {
        return Ok(());
    }
    let api = serve_http(url, service, None, no_listen, &shutdown).await?;
    Scheduler::new(db, scheduler_config(no_listen))
        .run(shutdown.clone())
        .await;
    shutdown.cancel();
    if let Some(api) = api {
        let _ = api.await;
    }
    Ok(())
}

fn scheduler_config(no_listen: bool) -> SchedulerConfig {
    SchedulerConfig {
        listen: !no_listen,
        ..SchedulerConfig::default()
    }
}

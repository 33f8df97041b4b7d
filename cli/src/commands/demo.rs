//! `pgtide demo`: a guided tour that runs in about ten seconds.
//!
//! It enqueues jobs for a few demo handlers (some succeed, one fails twice and then succeeds, one
//! exhausts its attempts into the dead-letter queue, one waits 5 s, one runs a shell command), runs a
//! worker and the maintenance services in this process, shows the counts by status as they change,
//! and ends with every execution row and the psql queries to look again. All figures come from the
//! database, not from the worker's own counters.

use std::{
    io::{IsTerminal, Write},
    sync::Arc,
    time::{Duration, Instant},
};

use pgtide::{
    async_trait,
    config::ShellConfig,
    handlers::{Registry, ShellHandler},
    maintenance::{Maintenance, MaintenanceConfig},
    Database, ExecutionStatus, Handler, HandlerError, HandlerResult, Job, NewJob, RetryStrategy,
    Worker, WorkerConfig,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Succeeds after a short pause, so the live view has something to show.
struct Greet;

#[async_trait]
impl Handler for Greet {
    async fn run(&self, job: &Job) -> HandlerResult {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let name = job.payload["name"].as_str().unwrap_or("world");
        Ok(Some(json!({ "greeting": format!("hello, {name}") })))
    }
}

/// Fails its first two attempts, then succeeds: a flaky dependency.
struct Flaky;

#[async_trait]
impl Handler for Flaky {
    async fn run(&self, job: &Job) -> HandlerResult {
        if job.attempt < 3 {
            return Err(HandlerError::retry(format!(
                "inventory service unavailable (attempt {} of {})",
                job.attempt, job.max_attempts
            )));
        }
        Ok(Some(json!({ "reserved": job.payload["sku"] })))
    }
}

/// Always fails: it ends in the dead-letter queue.
struct Doomed;

#[async_trait]
impl Handler for Doomed {
    async fn run(&self, _job: &Job) -> HandlerResult {
        Err(HandlerError::retry("card declined by the payment provider"))
    }
}

pub(crate) async fn run(url: &str) -> crate::Result<()> {
    let db = Database::connect(url, 12)?;
    pgtide::migrate(&db).await?;
    let client = db.client().await?;
    let since: i64 = client
        .query_one(include_str!("../../sql/demo/since.sql"), &[])
        .await?
        .get(0);
    drop(client);

    let run = chrono::Utc::now().format("%Y%m%dT%H%M%S").to_string();
    let quick = |job: NewJob| {
        job.retry(
            RetryStrategy::Exponential,
            Duration::from_secs(1),
            Duration::from_secs(4),
        )
    };
    let mut jobs: Vec<NewJob> = ["Ada", "Grace", "Linus", "Barbara"]
        .iter()
        .map(|name| {
            NewJob::new("greet")
                .payload(json!({ "name": name }))
                .idempotency_key(format!("demo-{run}-greet-{name}"))
        })
        .collect();
    jobs.push(quick(
        NewJob::new("flaky")
            .payload(json!({ "sku": "TIDE-42" }))
            .idempotency_key(format!("demo-{run}-flaky")),
    ));
    jobs.push(quick(
        NewJob::new("doomed")
            .payload(json!({ "order": 1001 }))
            .max_attempts(3)
            .idempotency_key(format!("demo-{run}-doomed")),
    ));
    jobs.push(
        NewJob::new("greet")
            .payload(json!({ "name": "the future" }))
            .run_at(chrono::Utc::now() + chrono::Duration::seconds(5))
            .idempotency_key(format!("demo-{run}-later")),
    );
    jobs.push(
        NewJob::new("echo")
            .payload(json!({ "shell": "payload arrives on stdin" }))
            .idempotency_key(format!("demo-{run}-echo")),
    );
    pgtide::enqueue_many(&db, &jobs).await?;
    println!(
        "Enqueued {} demo jobs: 4 x greet, flaky (fails twice), doomed (always fails, 3 attempts), \
         greet in 5 s, echo (shell: cat).\n",
        jobs.len()
    );

    let mut registry = Registry::new();
    registry.insert("greet", Arc::new(Greet), None);
    registry.insert("flaky", Arc::new(Flaky), None);
    registry.insert("doomed", Arc::new(Doomed), None);
    registry.insert(
        "echo",
        Arc::new(ShellHandler::new(ShellConfig {
            command: vec!["cat".into()],
            ..Default::default()
        })),
        None,
    );
    let worker = Worker::builder(db.clone())
        .config(WorkerConfig {
            concurrency: 4,
            shutdown_grace: Duration::from_secs(5),
            ..Default::default()
        })
        .registry(registry)
        .build()?;
    let maintenance = Maintenance::new(
        db.clone(),
        worker.id(),
        MaintenanceConfig {
            promote_interval: Duration::from_millis(200),
            ..Default::default()
        },
    );
    let stop = CancellationToken::new();
    let worker_task = tokio::spawn({
        let (worker, stop) = (worker.clone(), stop.clone());
        async move { worker.run(stop).await }
    });
    let maintenance_task = tokio::spawn({
        let stop = stop.clone();
        async move { maintenance.run(stop).await }
    });

    let interrupted = super::shutdown_on_signal();
    let started = Instant::now();
    let tty = std::io::stdout().is_terminal();
    let mut last_line = String::new();
    loop {
        let counts = counts(&db, since).await?;
        let line = format!(
            "{:>5.1}s  {}",
            started.elapsed().as_secs_f64(),
            ExecutionStatus::ALL
                .iter()
                .map(|s| format!("{s} {}", counts.get(s)))
                .collect::<Vec<_>>()
                .join("  ")
        );
        let settled = counts.pending() == 0;
        if tty {
            print!("\r\x1b[2K{line}");
            let _ = std::io::stdout().flush();
        } else if line[7..] != last_line.get(7..).unwrap_or_default()[..] {
            println!("{line}");
        }
        last_line = line;
        if settled || started.elapsed() > Duration::from_secs(30) || interrupted.is_cancelled() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if tty {
        println!();
    }
    stop.cancel();
    worker_task.await.expect("worker task")?;
    let _ = maintenance_task.await;

    print_table(&db, since).await?;
    println!(
        "\nLook again with psql (the embedded cluster stops now; `cargo run --release -- run` starts it \
         again, or use the URL you gave):\n\
         \x20 select id, handler, attempt, status, idempotency_key, retry_of, error from pgtide.executions order by id;\n\
         \x20 select * from pgtide.queue_stats;\n\
         \x20 select id, handler, error from pgtide.dead_letters;\n\
         \x20 select pgtide.retry_dead(<id of the dead row>);  -- requeue it"
    );
    Ok(())
}

struct Counts(Vec<(ExecutionStatus, i64)>);

impl Counts {
    fn get(&self, status: &ExecutionStatus) -> i64 {
        self.0
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n)
    }

    fn pending(&self) -> i64 {
        self.0
            .iter()
            .filter(|(s, _)| !s.is_final())
            .map(|(_, n)| n)
            .sum()
    }
}

async fn counts(db: &Database, since: i64) -> crate::Result<Counts> {
    let client = db.client().await?;
    let rows = client
        .query(include_str!("../../sql/demo/counts.sql"), &[&since])
        .await?;
    Ok(Counts(
        rows.iter()
            .filter_map(|r| Some((r.get::<_, String>(0).parse().ok()?, r.get(1))))
            .collect(),
    ))
}

async fn print_table(db: &Database, since: i64) -> crate::Result<()> {
    let client = db.client().await?;
    let rows = client
        .query(include_str!("../../sql/demo/rows.sql"), &[&since])
        .await?;
    println!(
        "\n{:>4}  {:<7} {:>7}  {:<10} {:<38} error",
        "id", "handler", "attempt", "status", "idempotency_key"
    );
    for row in rows {
        let mut error: String = row.get(5);
        if error.chars().count() > 60 {
            error = error.chars().take(57).collect::<String>() + "...";
        }
        println!(
            "{:>4}  {:<7} {:>7}  {:<10} {:<38} {}",
            row.get::<_, i64>(0),
            row.get::<_, String>(1),
            row.get::<_, i32>(2),
            row.get::<_, String>(3),
            row.get::<_, String>(4),
            error
        );
    }
    Ok(())
}

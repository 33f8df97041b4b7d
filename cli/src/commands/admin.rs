//! The admin subcommands: `task`, `enqueue`, `jobs`, `dlq`, `queue` and `stats`. Each is a thin shell
//! over [`pgtide::admin::Admin`], which calls the same SQL functions a psql user calls. Connections
//! say `application_name = pgtide-cli`, so the audit log records the surface as `cli`.

use std::time::Duration;

use clap::{Args, Subcommand};
use pgtide::{
    admin::{Admin, Execution, JobFilter, JobSpec, Queue, TaskSpec},
    model::ExecutionStatus,
};
use serde_json::Value;

use super::{
    table::{self, cut, opt, time},
    when::{self, When},
};

use crate::Result;

/// `--json` for listings.
#[derive(Debug, Clone, Copy, Args)]
pub(crate) struct Output {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TaskCommand {
    /// Create a task (exactly one of --cron, --every, --at).
    Add(Box<TaskAdd>),
    /// List tasks with their schedule, next run and last outcome.
    List(Output),
    /// Show one task.
    Show {
        /// The task's name.
        name: String,
        #[command(flatten)]
        output: Output,
    },
    /// Pause a task: it stops firing until resumed.
    Pause {
        /// The task's name.
        name: String,
    },
    /// Resume a paused task; its schedule is recomputed from now.
    Resume {
        /// The task's name.
        name: String,
    },
    /// Fire a task now, whatever its schedule.
    Trigger {
        /// The task's name.
        name: String,
        /// Idempotency key of this manual run (triggering twice with one key runs once).
        #[arg(long)]
        key: Option<String>,
    },
    /// Delete a task; its executions stay in the history.
    Rm {
        /// The task's name.
        name: String,
    },
    /// A task's executions, newest first.
    History {
        /// The task's name.
        name: String,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[command(flatten)]
        output: Output,
    },
    /// Preview a task's next slots, in its time zone and in UTC.
    Next {
        /// The task's name.
        name: String,
        /// How many slots.
        #[arg(short = 'n', long, default_value_t = 5)]
        count: usize,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Args)]
pub(crate) struct TaskAdd {
    /// Unique task name.
    name: String,
    /// Handler that runs it (configured on the workers).
    handler: String,
    /// Crontab schedule: 5 fields, 6 with seconds, or an @alias.
    #[arg(long, conflicts_with_all = ["every", "at"], required_unless_present_any = ["every", "at"])]
    cron: Option<String>,
    /// Interval schedule (e.g. 15m, 1h30m).
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "at")]
    every: Option<Duration>,
    /// One-shot: run once at this time (RFC 3339 or now+5m).
    #[arg(long, value_parser = when::parse)]
    at: Option<When>,
    /// IANA time zone of the cron schedule.
    #[arg(long = "tz", alias = "timezone")]
    timezone: Option<String>,
    /// JSON payload.
    #[arg(long, value_parser = parse_json)]
    payload: Option<Value>,
    /// Queue.
    #[arg(long)]
    queue: Option<String>,
    /// Priority (lower runs first).
    #[arg(long, allow_negative_numbers = true)]
    priority: Option<i32>,
    /// Attempts per fire, the first included.
    #[arg(long)]
    max_attempts: Option<i32>,
    /// fixed or exponential.
    #[arg(long)]
    retry_strategy: Option<String>,
    /// Base delay between attempts (e.g. 10s).
    #[arg(long, value_parser = humantime::parse_duration)]
    retry_base: Option<Duration>,
    /// Longest delay between attempts (e.g. 1h).
    #[arg(long, value_parser = humantime::parse_duration)]
    retry_max: Option<Duration>,
    /// Time limit per attempt (e.g. 5m).
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// allow, or skip a slot while the previous fire is pending.
    #[arg(long)]
    overlap: Option<String>,
    /// fire_once, skip or catch_up.
    #[arg(long)]
    misfire: Option<String>,
    /// A tag (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Concurrency key of every execution: they count against the queue's key limits.
    #[arg(long)]
    concurrency_key: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct EnqueueArgs {
    /// Handler that runs the job.
    handler: String,
    /// JSON payload.
    #[arg(long, value_parser = parse_json)]
    payload: Option<Value>,
    /// Queue.
    #[arg(long, default_value = "default")]
    queue: String,
    /// Run no earlier than this (RFC 3339 or now+5m).
    #[arg(long, value_parser = when::parse, conflicts_with = "delay")]
    at: Option<When>,
    /// Run after this delay (e.g. 5m).
    #[arg(long = "in", value_parser = humantime::parse_duration)]
    delay: Option<Duration>,
    /// Idempotency key: enqueuing a known key returns the existing job.
    #[arg(long)]
    key: Option<String>,
    /// Priority (lower runs first).
    #[arg(long, allow_negative_numbers = true)]
    priority: Option<i16>,
    /// Attempts, the first included.
    #[arg(long)]
    max_attempts: Option<i32>,
    /// Time limit per attempt (e.g. 5m).
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// The tenant (or any group) the job counts against under the queue's key limits.
    #[arg(long)]
    concurrency_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// List executions, newest first.
    List {
        /// Only this status.
        #[arg(long)]
        status: Option<ExecutionStatus>,
        /// Only this queue.
        #[arg(long)]
        queue: Option<String>,
        /// Only this handler.
        #[arg(long)]
        handler: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(flatten)]
        output: Output,
    },
    /// Show one execution with its whole retry chain and errors.
    Show {
        /// The execution id.
        id: i64,
        #[command(flatten)]
        output: Output,
    },
    /// Cancel a scheduled, queued or running execution.
    Cancel {
        /// The execution id.
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DlqCommand {
    /// List dead letters (dead executions not yet requeued), oldest first.
    List {
        /// Only this handler.
        #[arg(long)]
        handler: Option<String>,
        /// Only this queue.
        #[arg(long)]
        queue: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(flatten)]
        output: Output,
    },
    /// Requeue one dead letter, or all of them (of one handler).
    Retry {
        /// The dead execution's id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Requeue every dead letter.
        #[arg(long)]
        all: bool,
        /// With --all: only this handler's.
        #[arg(long, requires = "all")]
        handler: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum QueueCommand {
    /// List queues: settings and counts.
    List(Output),
    /// Pause a queue: workers claim nothing from it; running jobs finish.
    Pause {
        /// Queue name.
        queue: String,
    },
    /// Resume a paused queue.
    Resume {
        /// Queue name.
        queue: String,
    },
    /// Cap running jobs of a queue across all workers.
    Limit {
        /// Queue name.
        queue: String,
        /// The cap (>= 1).
        #[arg(required_unless_present = "none", conflicts_with = "none")]
        limit: Option<i32>,
        /// Remove the cap.
        #[arg(long)]
        none: bool,
    },
    /// Cap running jobs per concurrency key of a queue across all workers; a queue with a key
    /// limit takes its jobs round-robin across keys.
    KeyLimit {
        /// Queue name.
        queue: String,
        /// The cap (>= 1).
        #[arg(required_unless_present = "none", conflicts_with = "none")]
        limit: Option<i32>,
        /// Set this key's own cap instead of every key's.
        #[arg(long)]
        concurrency_key: Option<String>,
        /// Remove the cap.
        #[arg(long)]
        none: bool,
    },
    /// Limit how many jobs of a queue start per window, across all workers.
    RateLimit {
        /// Queue name.
        queue: String,
        /// Most starts per window (>= 1).
        #[arg(
            required_unless_present = "none",
            conflicts_with = "none",
            requires = "per"
        )]
        max_starts: Option<i32>,
        /// The window (e.g. 1s, 1m).
        #[arg(long, value_parser = humantime::parse_duration)]
        per: Option<Duration>,
        /// Apply the limit to each concurrency key instead of the whole queue.
        #[arg(long)]
        per_key: bool,
        /// Remove the limit.
        #[arg(long)]
        none: bool,
    },
    /// The concurrency keys of a queue with the most waiting first.
    Keys {
        /// Queue name.
        queue: String,
        /// At most this many keys.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// Refresh in place until interrupted.
    #[arg(long)]
    watch: bool,
    /// Refresh interval with --watch.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    interval: Duration,
    #[command(flatten)]
    output: Output,
}

fn parse_json(text: &str) -> std::result::Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("invalid JSON {text:?}: {e}"))
}

/// The admin API over a small pool that identifies itself as the CLI.
pub(crate) fn connect(url: &str, pooler: bool) -> Result<Admin> {
    Ok(Admin::new(super::serve::database(
        url,
        2,
        Some("pgtide-cli"),
        pooler,
    )?))
}

pub(crate) async fn task(admin: &Admin, command: TaskCommand) -> Result {
    match command {
        TaskCommand::Add(add) => {
            let run_at = match &add.at {
                Some(at) => Some(at.resolve(admin.now().await?)),
                None => None,
            };
            let spec = TaskSpec {
                name: add.name.clone(),
                handler: add.handler,
                payload: add.payload,
                cron: add.cron,
                every: add.every,
                run_at,
                timezone: add.timezone,
                queue: add.queue,
                priority: add.priority,
                max_attempts: add.max_attempts,
                retry_strategy: add.retry_strategy,
                retry_base: add.retry_base,
                retry_max: add.retry_max,
                timeout: add.timeout,
                overlap: add.overlap,
                misfire: add.misfire,
                tags: (!add.tags.is_empty()).then_some(add.tags),
                concurrency_key: add.concurrency_key,
            };
            let id = admin.create_task(&spec).await?;
            println!("created task {:?} (id {id})", add.name);
        }
        TaskCommand::List(output) => {
            let tasks = admin.tasks().await?;
            if output.json {
                return table::json(&tasks);
            }
            let rows: Vec<Vec<String>> = tasks
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        t.handler.clone(),
                        t.queue.clone(),
                        t.status.clone(),
                        opt(&t.schedule),
                        time(&t.next_run_at),
                        opt(&t.last_outcome),
                    ]
                })
                .collect();
            table::print(
                &[
                    "name",
                    "handler",
                    "queue",
                    "status",
                    "schedule",
                    "next_run_at",
                    "last",
                ],
                &rows,
            );
        }
        TaskCommand::Show { name, output } => {
            let task = admin.task(&name).await?;
            if output.json {
                return table::json(&task);
            }
            let mut fields = vec![
                ("name", task.name.clone()),
                ("id", task.id.to_string()),
                ("handler", task.handler.clone()),
                ("queue", task.queue.clone()),
                ("status", task.status.clone()),
                ("schedule", opt(&task.schedule)),
                ("next_run_at", time(&task.next_run_at)),
                ("last_run_at", time(&task.last_run_at)),
                ("last_outcome", opt(&task.last_outcome)),
                ("success_rate", opt(&task.success_rate)),
                ("last_error", opt(&task.last_error)),
                ("tags", task.tags.join(",")),
                (
                    "payload",
                    task.payload.as_ref().map_or("{}".into(), Value::to_string),
                ),
            ];
            for (key, value) in &task.more {
                fields.push((key.as_str(), value_text(value)));
            }
            for (key, value) in fields {
                println!("{key:>16}  {value}");
            }
        }
        TaskCommand::Pause { name } => {
            admin.pause_task(&name).await?;
            println!("paused task {name:?}");
        }
        TaskCommand::Resume { name } => {
            admin.resume_task(&name).await?;
            println!("resumed task {name:?}");
        }
        TaskCommand::Trigger { name, key } => {
            let id = admin.trigger_task(&name, key.as_deref()).await?;
            println!("triggered task {name:?}: execution {id}");
        }
        TaskCommand::Rm { name } => {
            admin.delete_task(&name).await?;
            println!("deleted task {name:?} (its executions stay in the history)");
        }
        TaskCommand::History {
            name,
            limit,
            output,
        } => {
            // An unknown task is an error, not an empty history.
            admin.task(&name).await?;
            let jobs = admin
                .jobs(&JobFilter {
                    task: Some(name),
                    limit: Some(limit),
                    ..Default::default()
                })
                .await?;
            print_jobs(&jobs, output)?;
        }
        TaskCommand::Next {
            name,
            count,
            output,
        } => {
            let preview = pgtide::scheduler::Scheduler::preview(admin.db(), &name, count).await?;
            if output.json {
                return table::json(&preview);
            }
            super::print_preview(&name, &preview);
        }
    }
    Ok(())
}

pub(crate) async fn enqueue(admin: &Admin, args: EnqueueArgs) -> Result {
    let (run_at, delay) = match args.at {
        Some(When::At(at)) => (Some(at), None),
        Some(When::FromNow(delay)) => (None, Some(delay)),
        None => (None, args.delay),
    };
    let spec = JobSpec {
        handler: args.handler,
        payload: args.payload,
        queue: Some(args.queue),
        run_at,
        delay,
        idempotency_key: args.key,
        priority: args.priority,
        max_attempts: args.max_attempts,
        timeout: args.timeout,
        concurrency_key: args.concurrency_key,
        ..Default::default()
    };
    println!("{}", admin.enqueue(&spec).await?);
    Ok(())
}

pub(crate) async fn jobs(admin: &Admin, command: JobsCommand) -> Result {
    match command {
        JobsCommand::List {
            status,
            queue,
            handler,
            limit,
            output,
        } => {
            let jobs = admin
                .jobs(&JobFilter {
                    status,
                    queue,
                    handler,
                    task: None,
                    limit: Some(limit),
                })
                .await?;
            print_jobs(&jobs, output)
        }
        JobsCommand::Show { id, output } => {
            let detail = admin.job(id).await?;
            if output.json {
                return table::json(&detail);
            }
            let e = &detail.execution;
            for (key, value) in [
                ("id", e.id.to_string()),
                ("status", e.status.clone()),
                ("handler", e.handler.clone()),
                ("queue", e.queue.clone()),
                ("task", opt(&e.task_name)),
                ("attempt", format!("{} of {}", e.attempt, e.max_attempts)),
                ("idempotency_key", e.idempotency_key.clone()),
                ("visible_at", time(&Some(e.visible_at))),
                ("started_at", time(&e.started_at)),
                ("finished_at", time(&e.finished_at)),
                ("worker_id", opt(&e.worker_id)),
                ("error", opt(&e.error)),
                (
                    "payload",
                    e.payload.as_ref().map_or("-".into(), Value::to_string),
                ),
                (
                    "result",
                    e.result.as_ref().map_or("-".into(), Value::to_string),
                ),
            ] {
                println!("{key:>16}  {value}");
            }
            println!("\nretry chain ({} attempts):", detail.chain.len());
            let rows: Vec<Vec<String>> = detail
                .chain
                .iter()
                .map(|c| {
                    vec![
                        c.id.to_string(),
                        c.attempt.to_string(),
                        c.status.clone(),
                        time(&c.finished_at),
                        opt(&c.error),
                    ]
                })
                .collect();
            table::print(&["id", "attempt", "status", "finished_at", "error"], &rows);
            Ok(())
        }
        JobsCommand::Cancel { id } => {
            let previous = admin.cancel(id).await?;
            println!("cancelled execution {id} (it was {previous})");
            Ok(())
        }
    }
}

pub(crate) async fn dlq(admin: &Admin, command: DlqCommand) -> Result {
    match command {
        DlqCommand::List {
            handler,
            queue,
            limit,
            output,
        } => {
            let dead = admin
                .dead_letters(handler.as_deref(), queue.as_deref(), Some(limit))
                .await?;
            print_jobs(&dead, output)
        }
        DlqCommand::Retry {
            id: Some(id),
            all: false,
            ..
        } => {
            let new_id = admin.retry_dead(id).await?;
            println!("requeued dead execution {id} as {new_id}");
            Ok(())
        }
        DlqCommand::Retry { handler, .. } => {
            let requeued = admin.retry_dead_all(handler.as_deref()).await?;
            for r in &requeued {
                println!("requeued dead execution {} as {}", r.dead_id, r.id);
            }
            println!("{} dead letter(s) requeued", requeued.len());
            Ok(())
        }
    }
}

pub(crate) async fn queue(admin: &Admin, command: QueueCommand) -> Result {
    match command {
        QueueCommand::List(output) => {
            let queues = admin.queues().await?;
            print_queues(&queues, output)
        }
        QueueCommand::Pause { queue } => {
            admin.pause_queue(&queue).await?;
            println!("paused queue {queue:?}");
            Ok(())
        }
        QueueCommand::Resume { queue } => {
            admin.resume_queue(&queue).await?;
            println!("resumed queue {queue:?}");
            Ok(())
        }
        QueueCommand::Limit { queue, limit, .. } => {
            admin.set_queue_limit(&queue, limit).await?;
            match limit {
                Some(n) => println!("queue {queue:?} runs at most {n} job(s) at once"),
                None => println!("queue {queue:?} has no concurrency limit"),
            }
            Ok(())
        }
        QueueCommand::KeyLimit {
            queue,
            limit,
            concurrency_key,
            ..
        } => {
            admin
                .set_key_limit(&queue, limit, concurrency_key.as_deref())
                .await?;
            let whom = concurrency_key.map_or("each key".to_string(), |k| format!("key {k:?}"));
            match limit {
                Some(n) => println!("queue {queue:?} runs at most {n} job(s) of {whom} at once"),
                None => println!("queue {queue:?} has no concurrency limit for {whom}"),
            }
            Ok(())
        }
        QueueCommand::RateLimit {
            queue,
            max_starts,
            per,
            per_key,
            ..
        } => {
            admin
                .set_rate_limit(&queue, max_starts, per, per_key)
                .await?;
            match (max_starts, per) {
                (Some(n), Some(per)) => println!(
                    "queue {queue:?} starts at most {n} job(s) per {}{}",
                    humantime::format_duration(per),
                    if per_key { " for each key" } else { "" }
                ),
                _ => println!("queue {queue:?} has no rate limit"),
            }
            Ok(())
        }
        QueueCommand::Keys {
            queue,
            limit,
            output,
        } => {
            let keys = admin.key_stats(Some(&queue), limit).await?;
            if output.json {
                return table::json(&keys);
            }
            let rows: Vec<Vec<String>> = keys
                .iter()
                .map(|k| {
                    vec![
                        k.concurrency_key.clone().unwrap_or_else(|| "(none)".into()),
                        k.queued.to_string(),
                        k.running.to_string(),
                        opt(&k.concurrency_limit),
                        k.oldest_due_secs.map_or("-".into(), |s| format!("{s:.1}s")),
                    ]
                })
                .collect();
            table::print(&["key", "queued", "running", "limit", "oldest_due"], &rows);
            Ok(())
        }
    }
}

pub(crate) async fn stats(admin: &Admin, args: StatsArgs) -> Result {
    if !args.watch {
        let queues = admin.queues().await?;
        return print_queues(&queues, args.output);
    }
    let shutdown = super::shutdown_on_signal();
    loop {
        let queues = admin.queues().await?;
        // Clear the screen and home the cursor, so the table refreshes in place.
        print!("\x1b[2J\x1b[H");
        println!(
            "pgtide stats, every {} (Ctrl-C to stop)  {}\n",
            humantime::format_duration(args.interval),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        print_queues(&queues, args.output)?;
        tokio::select! {
            () = tokio::time::sleep(args.interval) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}

fn print_jobs(jobs: &[Execution], output: Output) -> Result {
    if output.json {
        return table::json(&jobs);
    }
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.to_string(),
                j.queue.clone(),
                j.handler.clone(),
                j.status.clone(),
                format!("{}/{}", j.attempt, j.max_attempts),
                time(&Some(j.visible_at)),
                time(&j.finished_at),
                cut(&j.error, 60),
            ]
        })
        .collect();
    table::print(
        &[
            "id",
            "queue",
            "handler",
            "status",
            "attempt",
            "visible_at",
            "finished_at",
            "error",
        ],
        &rows,
    );
    Ok(())
}

fn print_queues(queues: &[Queue], output: Output) -> Result {
    if output.json {
        return table::json(&queues);
    }
    let rows: Vec<Vec<String>> = queues
        .iter()
        .map(|q| {
            vec![
                q.queue.clone(),
                if q.paused { "paused" } else { "active" }.to_string(),
                opt(&q.concurrency_limit),
                q.scheduled.to_string(),
                q.queued.to_string(),
                q.running.to_string(),
                q.succeeded.to_string(),
                q.failed.to_string(),
                q.dead.to_string(),
                q.oldest_due_secs
                    .map_or("-".into(), |s| format!("{:.1}s", s)),
                format!("{:.1}%", q.failure_rate_5m * 100.0),
                opt(&q.key_concurrency_limit),
                rate_text(q),
            ]
        })
        .collect();
    table::print(
        &[
            "queue",
            "state",
            "limit",
            "scheduled",
            "queued",
            "running",
            "succeeded",
            "failed",
            "dead",
            "oldest_due",
            "fail_5m",
            "key_limit",
            "rate",
        ],
        &rows,
    );
    Ok(())
}

/// A queue's rate limit in one cell: "20/00:00:01", "5/00:01:00 per key", or "-".
fn rate_text(q: &Queue) -> String {
    match (q.rate_max_starts, &q.rate_per) {
        (Some(n), Some(per)) => {
            format!("{n}/{per}{}", if q.rate_per_key { " per key" } else { "" })
        }
        _ => "-".into(),
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

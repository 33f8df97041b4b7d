//! Chaos: `pgtide worker` processes killed and stalled while they drain a queue, and the ledgers that
//! prove nothing was lost and nothing was silently doubled.
//!
//! Three worker processes (each also in the maintenance election, so the leader gets killed too) drain
//! N jobs, half through a `sql` handler and half through a `shell` handler that runs `psql` to insert
//! its execution id. Every 2 s a random worker gets SIGKILL and is restarted. Once, a worker gets
//! SIGSTOP for longer than its lease and then SIGCONT. At the end:
//! - every job's chain ends `succeeded` (or `dead` with a reason): none is lost;
//! - the sql ledger has each job exactly once (its insert commits with the completion, fenced);
//! - the shell ledger has each job at least once, and every extra entry belongs to an attempt the
//!   rescuer took back after its lease expired (a side effect outside the database can repeat);
//! - the stalled worker, once resumed, had its stale completions refused and said so in its log.
//!
//! CI runs N = 3,000 (`PGTIDE_CHAOS_JOBS` overrides it); `scripts/soak.sh` runs the full 20,000.

use crate::common;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{scalar, test_db};
use nix::{sys::signal::Signal, unistd::Pid};

const WORKERS: usize = 3;

struct Proc {
    child: Child,
    log: PathBuf,
}

impl Drop for Proc {
    /// A failed assertion must not leave workers running against a dropped database.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_worker(url: &str, config: &Path, log: PathBuf) -> Proc {
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_pgtide"))
        .args(["worker", "--database-url", url, "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap();
    Proc { child, log }
}

fn signal(p: &Proc, s: Signal) {
    nix::sys::signal::kill(Pid::from_raw(p.child.id() as i32), s).unwrap();
}

fn config(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("pgtide.toml");
    // psql interpolates variables in a script, not in -c: the execution id and payload come from the
    // environment the shell handler sets, never from a command line built out of the payload.
    let script = dir.join("ledger.sql");
    std::fs::write(
        &script,
        "\\getenv id PGTIDE_EXECUTION_ID\n\\getenv payload PGTIDE_PAYLOAD\n\
         insert into shell_ledger (n, execution_id) values ((:'payload'::jsonb->>'n')::int, :id);\n",
    )
    .unwrap();
    let text = format!(
        r#"
[worker]
concurrency = 8
lease = "2s"
poll_interval = "200ms"
shutdown_grace = "1s"

[maintenance]
leader_ttl = "3s"
rescue_interval = "500ms"

[handlers.ledger_sql]
kind = "sql"
statement = "insert into sql_ledger (n) values (($1->>'n')::int)"

[handlers.ledger_shell]
kind = "shell"
command = ["psql", "{url}", "-qAtX", "-v", "ON_ERROR_STOP=1", "-f", "{script}"]
"#,
        script = script.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_stalled_workers_lose_nothing_and_double_only_shell_effects_of_rescued_attempts()
{
    let _heavy = common::heavy().await;
    let jobs: i64 = std::env::var("PGTIDE_CHAOS_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let t = test_db().await;
    let client = t.client().await.unwrap();
    client
        .batch_execute(
            "create table sql_ledger (n int not null, at timestamptz not null default clock_timestamp());
             create table shell_ledger (n int not null, execution_id bigint not null,
                                        at timestamptz not null default clock_timestamp());",
        )
        .await
        .unwrap();
    client
        .execute(
            "insert into pgtide.executions (handler, payload, max_attempts, retry_strategy, retry_base, retry_max)
             select case when n % 2 = 0 then 'ledger_sql' else 'ledger_shell' end,
                    jsonb_build_object('n', n), 50, 'fixed', interval '200 ms', interval '1 s'
               from generate_series(1, $1::bigint) n",
            &[&jobs],
        )
        .await
        .unwrap();

    let dir = std::env::temp_dir().join(format!("pgtide-chaos-{}", t.name));
    std::fs::create_dir_all(&dir).unwrap();
    let config = config(&dir, &t.url);
    let mut incarnation = 0;
    let mut next_log = || {
        incarnation += 1;
        dir.join(format!("worker-{incarnation}.log"))
    };
    let mut procs: Vec<Proc> = (0..WORKERS)
        .map(|_| spawn_worker(&t.url, &config, next_log()))
        .collect();

    let unfinished =
        "select count(*) from pgtide.executions where status in ('queued', 'scheduled', 'running')";
    let started = Instant::now();
    let deadline = Duration::from_secs(if jobs > 5000 { 900 } else { 300 });
    let mut kills = 0;
    let mut stalled: Option<(usize, Instant)> = None;
    let mut stall_done = false;
    let mut stalled_pid = 0;
    let mut stalled_log = PathBuf::new();
    let mut rng = rand::rng();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let left = scalar(&t, unfinished).await;
        eprintln!(
            "{:>5.1?}: {left} unfinished, {kills} kills",
            started.elapsed()
        );
        if left == 0 && stall_done && stalled.is_none() {
            break;
        }
        assert!(
            started.elapsed() < deadline,
            "{left} jobs still unfinished after {deadline:?}"
        );
        // The stall: 3 s into the run, SIGSTOP worker 0 for 5 s (its lease is 2 s), then SIGCONT.
        match stalled {
            None if !stall_done && started.elapsed() > Duration::from_secs(3) => {
                signal(&procs[0], Signal::SIGSTOP);
                stalled_pid = procs[0].child.id();
                stalled_log = procs[0].log.clone();
                stalled = Some((0, Instant::now()));
                stall_done = true;
            }
            Some((i, since)) if since.elapsed() > Duration::from_secs(5) => {
                signal(&procs[i], Signal::SIGCONT);
                stalled = None;
                // Give the resumed worker time to try its stale completions before it may be killed.
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            _ => {}
        }
        let candidates: Vec<usize> = (0..WORKERS)
            .filter(|i| stalled.is_none_or(|(s, _)| s != *i))
            .collect();
        let victim = candidates[rand::Rng::random_range(&mut rng, 0..candidates.len())];
        procs[victim].child.kill().unwrap(); // SIGKILL
        procs[victim].child.wait().unwrap();
        kills += 1;
        procs[victim] = spawn_worker(&t.url, &config, next_log());
    }
    let elapsed = started.elapsed();
    for p in &procs {
        signal(p, Signal::SIGCONT);
        signal(p, Signal::SIGTERM);
    }
    for p in &mut procs {
        p.child.wait().unwrap();
    }
    assert!(stall_done, "the run ended before the stall happened");

    // 1. Nothing lost: every job (by its payload n) has exactly one final outcome.
    let lost = scalar(
        &t,
        "select count(*) from generate_series(1, (select max((payload->>'n')::int) from pgtide.executions)) n
          where not exists (select 1 from pgtide.executions e
                             where (e.payload->>'n')::int = n and e.status in ('succeeded', 'dead'))",
    )
    .await;
    assert_eq!(lost, 0, "jobs lost");
    let doubled_outcomes = scalar(
        &t,
        "select count(*) from (select payload->>'n' from pgtide.executions
                                where status in ('succeeded', 'dead') group by 1 having count(*) > 1) d",
    )
    .await;
    assert_eq!(doubled_outcomes, 0, "jobs with two final outcomes");
    let dead_without_reason = scalar(
        &t,
        "select count(*) from pgtide.executions where status = 'dead' and coalesce(error, '') = ''",
    )
    .await;
    assert_eq!(dead_without_reason, 0);
    let dead = scalar(
        &t,
        "select count(*) from pgtide.executions where status = 'dead'",
    )
    .await;
    // Both handlers always succeed when they get to run, and 50 attempts outlast any kill streak.
    assert_eq!(dead, 0, "dead jobs");

    // 2. The sql ledger: each sql job exactly once.
    let sql_jobs = jobs / 2;
    let sql_rows = scalar(&t, "select count(*) from sql_ledger").await;
    let sql_distinct = scalar(&t, "select count(distinct n) from sql_ledger").await;
    let sql_succeeded = scalar(
        &t,
        "select count(*) from pgtide.executions where handler = 'ledger_sql' and status = 'succeeded'",
    )
    .await;
    assert_eq!(sql_distinct, sql_succeeded);
    assert_eq!(
        sql_rows, sql_distinct,
        "duplicate sql-handler effects: {} rows for {} jobs",
        sql_rows, sql_distinct
    );
    assert_eq!(sql_rows + dead_sql(&t).await, sql_jobs);

    // 3. The shell ledger: each shell job at least once; every entry beyond the succeeded attempt's
    //    belongs to an attempt that the rescuer took back after its lease expired.
    let shell_jobs = jobs - sql_jobs;
    let shell_distinct = scalar(&t, "select count(distinct n) from shell_ledger").await;
    let shell_rows = scalar(&t, "select count(*) from shell_ledger").await;
    assert_eq!(shell_distinct + dead_shell(&t).await, shell_jobs);
    let unexplained = scalar(
        &t,
        "select count(*) from shell_ledger l join pgtide.executions e on e.id = l.execution_id
          where not (e.status = 'succeeded'
                     or (e.status = 'failed' and e.error like 'lease expired at %'))",
    )
    .await;
    assert_eq!(
        unexplained, 0,
        "shell effects of attempts that were neither the success nor rescued"
    );
    let shell_duplicates = shell_rows - shell_distinct;
    let duplicates_from_rescues = scalar(
        &t,
        "select count(*) from shell_ledger l join pgtide.executions e on e.id = l.execution_id
          where e.status = 'failed' and e.error like 'lease expired at %'",
    )
    .await;
    assert_eq!(shell_duplicates, duplicates_from_rescues);
    let rescues = scalar(
        &t,
        "select count(*) from pgtide.executions where status = 'failed' and error like 'lease expired at %'",
    )
    .await;

    // 4. The stalled worker: its attempts were rescued, none of them recorded a success afterwards,
    //    and it logged that its stale completions were refused.
    let stalled_like = format!("%:{stalled_pid}:%");
    let stalled_rescued: i64 = common::one(
        &t,
        "select count(*) from pgtide.executions
          where worker_id like $1 and status = 'failed' and error like 'lease expired at %'",
        &[&stalled_like],
    )
    .await;
    assert!(
        stalled_rescued > 0,
        "the stalled worker held no rescued attempt"
    );
    let log = std::fs::read_to_string(&stalled_log).unwrap();
    let refused = log.matches("completion refused").count();
    let lease_lost = log.matches("lease lost").count();
    assert!(
        refused + lease_lost > 0,
        "the resumed worker did not report its fenced completions:\n{log}"
    );
    let panics = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .filter(|text| text.contains("panicked"))
        .count();
    assert_eq!(panics, 0, "a worker panicked");

    println!(
        "chaos: {jobs} jobs in {elapsed:.1?}, {kills} SIGKILLs and 1 SIGSTOP survived; lost 0; dead {dead}; \
         sql ledger {sql_rows} rows for {sql_distinct} jobs (0 duplicates); shell ledger {shell_rows} rows \
         for {shell_distinct} jobs ({shell_duplicates} duplicates, all from the {rescues} rescued attempts); \
         stalled worker: {stalled_rescued} attempts rescued, {refused} completions refused, {lease_lost} \
         handlers stopped on lease loss"
    );
    if std::env::var_os("PGTIDE_CHAOS_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

async fn dead_sql(t: &common::TestDb) -> i64 {
    scalar(
        t,
        "select count(*) from pgtide.executions where handler = 'ledger_sql' and status = 'dead'",
    )
    .await
}

async fn dead_shell(t: &common::TestDb) -> i64 {
    scalar(
        t,
        "select count(*) from pgtide.executions where handler = 'ledger_shell' and status = 'dead'",
    )
    .await
}

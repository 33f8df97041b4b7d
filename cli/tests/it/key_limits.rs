//! Tenants sharing a queue: per-key caps held across worker processes, round-robin dispatch that
//! keeps a small tenant from waiting behind a large one, and rate limits on starts. Each proof runs
//! the same scenario without the limit too, so it shows the limit is what makes the difference.

use crate::common;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use common::{scalar, test_db, wait_until, Process, RunningWorker, TestDb};
use pgtide::{Database, NewJob, WorkerConfig};

/// Writes `toml` to `pgtide.toml` in a directory of its own for this test and `name`.
fn write_config(t: &TestDb, name: &str, toml: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pgtide-{name}-{}", t.name));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("pgtide.toml");
    std::fs::write(&config, toml).unwrap();
    config
}

/// Starts `n` `pgtide worker` processes with `config`.
fn start_workers(t: &TestDb, config: &std::path::Path, n: usize) -> Vec<Process> {
    (0..n)
        .map(|i| {
            Process::worker(
                &t.url,
                config,
                config.with_file_name(format!("worker-{i}.log")),
            )
        })
        .collect()
}

/// Samples running rows per key of `queue` every 2 ms until `stop`: the most of each key at once,
/// and the most of the queue at once.
fn sample_running_per_key(
    db: Database,
    queue: &'static str,
    stop: Arc<AtomicBool>,
) -> Arc<Mutex<(HashMap<String, i64>, i64)>> {
    let peaks = Arc::new(Mutex::new((HashMap::new(), 0)));
    let seen = peaks.clone();
    tokio::spawn(async move {
        let client = db.client().await.unwrap();
        while !stop.load(Ordering::Relaxed) {
            let rows = client
                .query(
                    "select concurrency_key, count(*) from pgtide.executions
                      where status = 'running' and queue = $1 group by 1",
                    &[&queue],
                )
                .await
                .unwrap();
            {
                let mut peaks = seen.lock().unwrap();
                let mut total = 0;
                for row in rows {
                    let key: String = row.get::<_, Option<String>>(0).unwrap_or_default();
                    let n: i64 = row.get(1);
                    total += n;
                    let peak = peaks.0.entry(key).or_insert(0);
                    *peak = (*peak).max(n);
                }
                peaks.1 = peaks.1.max(total);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    peaks
}

/// Runs 6 keys x 20 jobs of 20 ms on three worker processes of 8 slots, with `cap` per key (or
/// none), and returns the most running rows seen per key and in all.
async fn run_six_tenants(
    t: &TestDb,
    queue: &'static str,
    cap: Option<i32>,
) -> (HashMap<String, i64>, i64) {
    let client = t.client().await.unwrap();
    if let Some(cap) = cap {
        client
            .execute("select pgtide.set_key_limit($1, $2)", &[&queue, &cap])
            .await
            .unwrap();
    }
    let jobs: Vec<NewJob> = (0..120)
        .map(|n| {
            NewJob::new("nap")
                .queue(queue)
                .concurrency_key(format!("tenant-{}", n % 6))
        })
        .collect();
    pgtide::enqueue_many(&t.db, &jobs).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let peaks = sample_running_per_key(t.db.clone(), queue, stop.clone());
    // 8 slots each, and a `sleep` shell handler of 20 ms.
    let config = write_config(
        t,
        &format!("keycap-{queue}"),
        &format!(
            "[worker]\nqueues = [\"{queue}\"]\nconcurrency = 8\npoll_interval = \"1s\"\n\
             [handlers.nap]\nkind = \"shell\"\ncommand = [\"sleep\", \"0.02\"]\n"
        ),
    );
    let mut workers = start_workers(t, &config, 3);
    wait_until(Duration::from_secs(60), "the 120 jobs to succeed", || async {
        scalar(
            t,
            &format!("select count(*) from pgtide.executions where queue = '{queue}' and status = 'succeeded'"),
        )
        .await
            == 120
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for worker in &mut workers {
        assert!(
            worker.terminate(),
            "a worker exits cleanly:\n{}",
            worker.log_text()
        );
    }
    let peaks = peaks.lock().unwrap().clone();
    peaks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_cap_holds_across_three_worker_processes_and_is_reached() {
    let t = test_db().await;
    let (per_key, total) = run_six_tenants(&t, "capped", Some(2)).await;
    assert_eq!(
        per_key.len(),
        6,
        "every tenant was seen running: {per_key:?}"
    );
    for (key, peak) in &per_key {
        assert!(*peak <= 2, "{key} ran {peak} jobs at once under a cap of 2");
    }
    assert!(
        per_key.values().all(|peak| *peak == 2),
        "every tenant reached its cap: {per_key:?}"
    );
    eprintln!("running at once under a cap of 2: {per_key:?}, {total} in all");
    assert_eq!(total, 12, "the cap wastes no slot: 6 keys x 2 ran at once");
    // Every job ran once: a cap never loses or repeats work.
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where queue = 'capped' and attempt = 1"
        )
        .await,
        120
    );

    // The same run without the limit lets a tenant take more than 2 slots.
    let (per_key, _) = run_six_tenants(&t, "uncapped", None).await;
    assert!(
        per_key.values().any(|peak| *peak > 2),
        "without a key limit some tenant runs more than 2 at once: {per_key:?}"
    );
}

/// Enqueues 20,000 jobs of tenant A and then 100 of tenant B on `queue`, drains them with one
/// worker, and returns how many of A's jobs had finished when B's last one did.
async fn a_done_when_b_is_done(t: &TestDb, queue: &'static str) -> i64 {
    for chunk in 0..4 {
        let jobs: Vec<NewJob> = (0..5_000)
            .map(|n| {
                NewJob::new("noop")
                    .queue(queue)
                    .concurrency_key("A")
                    .idempotency_key(format!("{queue}-a-{chunk}-{n}"))
            })
            .collect();
        pgtide::enqueue_many(&t.db, &jobs).await.unwrap();
    }
    let jobs: Vec<NewJob> = (0..100)
        .map(|_| NewJob::new("noop").queue(queue).concurrency_key("B"))
        .collect();
    pgtide::enqueue_many(&t.db, &jobs).await.unwrap();
    let worker = RunningWorker::start(
        &t.db,
        pgtide::handlers::Registry::new(),
        WorkerConfig {
            queues: vec![queue.into()],
            ..common::quick_config(16)
        },
    );
    wait_until(Duration::from_secs(120), "the 20,100 jobs to succeed", || async {
        scalar(
            t,
            &format!("select count(*) from pgtide.executions where queue = '{queue}' and status = 'succeeded'"),
        )
        .await
            == 20_100
    })
    .await;
    worker.stop().await;
    scalar(
        t,
        &format!(
            "select count(*) from pgtide.executions
              where queue = '{queue}' and concurrency_key = 'A'
                and finished_at <= (select max(finished_at) from pgtide.executions
                                     where queue = '{queue}' and concurrency_key = 'B')"
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_tenant_does_not_wait_behind_a_large_backlog() {
    let t = test_db().await;
    t.client()
        .await
        .unwrap()
        .execute("select pgtide.set_key_limit('fair', 1000)", &[])
        .await
        .unwrap();
    let fair = a_done_when_b_is_done(&t, "fair").await;
    assert!(
        fair < 5_000,
        "with a key limit, B's 100 jobs finish before A's 5,000th ({fair} of A's were done)"
    );
    let plain = a_done_when_b_is_done(&t, "plain").await;
    eprintln!("A's jobs done when B's 100 were: {fair} with a key limit, {plain} without");
    assert!(
        plain >= 5_000,
        "without one, B waits behind A's backlog ({plain} of A's were done first)"
    );
}

/// CPU time (user + system) a process has used so far, from /proc.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which may hold spaces) start after its closing parenthesis.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .unwrap()
        .unwrap() as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

/// Waits until `n` rows of the database have succeeded.
async fn wait_for_succeeded(t: &TestDb, n: i64, timeout: Duration, what: &str) {
    wait_until(timeout, what, || async {
        scalar(
            t,
            "select count(*) from pgtide.executions where status = 'succeeded'",
        )
        .await
            == n
    })
    .await;
}

/// The most starts of `queue` (of `key`, if given) in any one-second window `[t, t + 1 s)`, and the
/// span from the first start to the last.
async fn busiest_second(t: &TestDb, queue: &str, key: Option<&str>) -> (i64, f64) {
    let row = t
        .client()
        .await
        .unwrap()
        .query_one(
            "with s as (select started_at from pgtide.executions
                         where queue = $1 and ($2::text is null or concurrency_key = $2))
             select (select max((select count(*) from s s2
                                  where s2.started_at >= s1.started_at
                                    and s2.started_at < s1.started_at + interval '1 second'))
                       from s s1),
                    extract(epoch from max(started_at) - min(started_at))::float8
               from s",
            &[&queue, &key],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// Runs `jobs` no-op jobs (keys cycling through `keys`) on three worker processes, under
/// `pgtide.set_rate_limit(queue, 20, '1 second', per_key)`; returns the workers' CPU time.
async fn run_rate_limited(
    t: &TestDb,
    queue: &'static str,
    keys: &[&str],
    jobs: usize,
    per_key: bool,
) -> Duration {
    t.client()
        .await
        .unwrap()
        .execute(
            "select pgtide.set_rate_limit($1, 20, interval '1 second', $2)",
            &[&queue, &per_key],
        )
        .await
        .unwrap();
    let new_jobs: Vec<NewJob> = (0..jobs)
        .map(|n| {
            NewJob::new("noop")
                .queue(queue)
                .concurrency_key(keys[n % keys.len()])
        })
        .collect();
    pgtide::enqueue_many(&t.db, &new_jobs).await.unwrap();
    let config = write_config(
        t,
        &format!("rate-{queue}"),
        &format!("[worker]\nqueues = [\"{queue}\"]\nconcurrency = 8\npoll_interval = \"10s\"\n"),
    );
    let mut workers = start_workers(t, &config, 3);
    wait_until(Duration::from_secs(60), "every rate-limited job to succeed", || async {
        scalar(
            t,
            &format!("select count(*) from pgtide.executions where queue = '{queue}' and status = 'succeeded'"),
        )
        .await
            == jobs as i64
    })
    .await;
    let cpu = workers.iter().map(|w| cpu_time(w.child.id())).sum();
    // Drained, the workers idle: they sleep until a notification or their poll, never spin.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let idle: Duration = workers
        .iter()
        .map(|w| cpu_time(w.child.id()))
        .sum::<Duration>()
        - cpu;
    assert!(
        idle < Duration::from_millis(150),
        "three idle workers used {idle:?} of CPU in 1.5 s"
    );
    for worker in &mut workers {
        assert!(
            worker.terminate(),
            "a worker exits cleanly:\n{}",
            worker.log_text()
        );
    }
    cpu
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_spaces_starts_across_three_workers_without_polling() {
    let t = test_db().await;
    let cpu = run_rate_limited(&t, "rated", &["a", "b", "c"], 120, false).await;
    let (most, span) = busiest_second(&t, "rated", None).await;
    eprintln!("queue rate 20/s: at most {most} starts in a second, {span:.2} s from first to last, workers' CPU {cpu:?}");
    assert!(
        most <= 20,
        "{most} starts in one second under a limit of 20 per second"
    );
    assert_eq!(most, 20, "the limit is reached, not just respected");
    assert!(
        span < 7.5,
        "a worker wakes when the window opens, not at its 10 s poll (took {span:.2} s)"
    );
    assert!(
        span >= 4.9,
        "120 starts at 20 per second span at least 5 s (took {span:.2} s)"
    );
    // Three processes waiting about 6 s: a busy poll would burn seconds of CPU; sleeping until the
    // window opens costs a few claims per second.
    assert!(
        cpu < Duration::from_millis(900),
        "the waiting workers used {cpu:?} of CPU"
    );

    // Per key: each key has its own 20 per second, so two keys start 40 in a second together.
    let t = test_db().await;
    let cpu = run_rate_limited(&t, "rated_keys", &["a", "b"], 120, true).await;
    for key in ["a", "b"] {
        let (most, span) = busiest_second(&t, "rated_keys", Some(key)).await;
        eprintln!("per-key rate 20/s, key {key}: at most {most} starts in a second, {span:.2} s, CPU {cpu:?}");
        assert!(
            most <= 20,
            "key {key}: {most} starts in one second under 20 per second"
        );
        assert!(
            span < 4.5,
            "key {key}: the workers wake when its window opens ({span:.2} s)"
        );
        assert!(
            span >= 1.9,
            "key {key}: 60 starts at 20 per second span at least 2 s ({span:.2} s)"
        );
    }
    let (together, _) = busiest_second(&t, "rated_keys", None).await;
    assert!(
        together > 20,
        "the keys' limits are separate: {together} starts in a second together"
    );
    assert!(
        cpu < Duration::from_millis(900),
        "the waiting workers used {cpu:?} of CPU"
    );
}

/// An idle worker woken for each new job asks how long a rate limit holds its queues back after
/// every claim that comes back short. Told that its queues have none, it stops asking for a poll
/// interval; a limit set meanwhile is learnt when that runs out, and then the worker sleeps until
/// the window opens again instead of until its poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_rate_limits_asks_for_their_wait_once_per_poll_interval() {
    let t = test_db().await;
    let poll = Duration::from_secs(3);
    let worker = RunningWorker::start(
        &t.db,
        common::registry(vec![("noop", Arc::new(pgtide::handlers::Noop))]),
        WorkerConfig {
            queues: vec!["woken".into()],
            poll_interval: poll,
            ..common::quick_config(2)
        },
    );
    wait_until(Duration::from_secs(10), "the worker to listen", || async {
        worker.worker.is_listening()
    })
    .await;
    let asked = || {
        worker
            .worker
            .stats()
            .rate_waits_asked
            .load(Ordering::Relaxed)
    };
    let before = asked();
    // 30 jobs one at a time: each wakes the worker, and each claim comes back short.
    for _ in 0..30 {
        pgtide::enqueue(&t.db, &NewJob::new("noop").queue("woken"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_for_succeeded(&t, 30, Duration::from_secs(10), "the woken jobs to succeed").await;
    let claims_asked = asked() - before;
    assert!(
        claims_asked <= 2,
        "30 woken claims within one poll interval asked {claims_asked} times"
    );

    // A rate limit set now is learnt once the poll interval has run out: 15 jobs at 5 a second
    // then span about 2 s. A worker that went on taking the queue for unlimited would sleep until
    // its 3 s poll between windows.
    t.client()
        .await
        .unwrap()
        .execute(
            "select pgtide.set_rate_limit('woken', 5, interval '1 second')",
            &[],
        )
        .await
        .unwrap();
    tokio::time::sleep(poll + Duration::from_millis(200)).await;
    t.client()
        .await
        .unwrap()
        .execute("delete from pgtide.executions", &[])
        .await
        .unwrap();
    let jobs: Vec<NewJob> = (0..15)
        .map(|_| NewJob::new("noop").queue("woken"))
        .collect();
    pgtide::enqueue_many(&t.db, &jobs).await.unwrap();
    wait_for_succeeded(
        &t,
        15,
        Duration::from_secs(20),
        "the rate-limited jobs to succeed",
    )
    .await;
    worker.stop().await;
    let (most, span) = busiest_second(&t, "woken", None).await;
    assert!(most <= 5, "{most} starts in one second under 5 per second");
    assert!(
        (1.9..2.9).contains(&span),
        "15 starts at 5 a second, woken when each window opens, span about 2 s (took {span:.2} s)"
    );
}

#[tokio::test]
async fn bad_limits_and_keys_name_the_field_and_change_nothing() {
    let t = test_db().await;
    let client = t.client().await.unwrap();
    client
        .batch_execute(
            "select pgtide.set_key_limit('shared', 3);
             select pgtide.set_rate_limit('shared', 10, interval '1 second');",
        )
        .await
        .unwrap();
    let settings =
        "select row(key_concurrency_limit, rate_max_starts, rate_per, rate_per_key)::text
                      from pgtide.queues where name = 'shared'";
    let before: String = common::one(&t, settings, &[]).await;
    let audited = scalar(&t, "select count(*) from pgtide.audit_log").await;
    let long = format!("'{}'", "k".repeat(201));
    for (call, expected) in [
        (
            "select pgtide.set_key_limit('shared', 0)".to_string(),
            "pgtide.set_key_limit: invalid concurrency_limit '0': expected NULL (no limit) or an integer >= 1",
        ),
        (
            "select pgtide.set_key_limit('shared', -2, 'acme')".into(),
            "pgtide.set_key_limit: invalid concurrency_limit '-2'",
        ),
        (
            format!("select pgtide.set_key_limit('shared', 2, {long})"),
            "pgtide.set_key_limit: invalid concurrency_key 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...': expected at most 200 characters",
        ),
        (
            "select pgtide.set_key_limit('shared', 2, '')".into(),
            "pgtide.set_key_limit: invalid concurrency_key '': expected NULL (no key) or a non-empty key",
        ),
        (
            "select pgtide.set_key_limit(' ', 2)".into(),
            "pgtide.set_key_limit: invalid queue ' ': expected a non-empty queue name",
        ),
        (
            "select pgtide.set_rate_limit('shared', 0, interval '1 second')".into(),
            "pgtide.set_rate_limit: invalid max_starts '0': expected NULL (no limit) or an integer >= 1",
        ),
        (
            "select pgtide.set_rate_limit('shared', 5, interval '0')".into(),
            "pgtide.set_rate_limit: invalid per '00:00:00': expected an interval > 0",
        ),
        (
            "select pgtide.set_rate_limit('shared', 5, interval '-1 second')".into(),
            "pgtide.set_rate_limit: invalid per '-00:00:01': expected an interval > 0",
        ),
        (
            "select pgtide.set_rate_limit('shared', 5, null)".into(),
            "pgtide.set_rate_limit: invalid per NULL: expected an interval > 0",
        ),
        (
            format!("select pgtide.set_rate_limit({long}, 5, interval '1 second')"),
            "pgtide.set_rate_limit: invalid queue",
        ),
        (
            format!("select pgtide.enqueue('noop', queue => 'shared', concurrency_key => {long})"),
            "pgtide.enqueue: invalid concurrency_key",
        ),
        (
            "select pgtide.create_task('t', 'noop', every => interval '1 hour', concurrency_key => '')"
                .into(),
            "pgtide.create_task: invalid concurrency_key ''",
        ),
    ] {
        let message = common::sql_error(&t, &call, &[]).await;
        assert!(message.starts_with(expected), "{call}:\n{message}");
    }
    // A raw INSERT meets the table's constraint.
    let message = common::sql_error(
        &t,
        "insert into pgtide.executions (handler, concurrency_key) values ('noop', '') returning id",
        &[],
    )
    .await;
    assert!(
        message.contains("executions_concurrency_key_shape"),
        "{message}"
    );
    assert_eq!(common::one::<String>(&t, settings, &[]).await, before);
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.audit_log").await,
        audited
    );
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.executions").await,
        0
    );
    assert_eq!(scalar(&t, "select count(*) from pgtide.tasks").await, 0);
    assert_eq!(
        scalar(&t, "select count(*) from pgtide.key_limits").await,
        0
    );
}

#[tokio::test]
async fn the_key_travels_with_fires_retries_and_requeues_and_shows_in_key_stats() {
    use pgtide::maintenance::LeaderService;
    let t = test_db().await;
    let client = t.client().await.unwrap();
    client
        .batch_execute(
            "select pgtide.create_task('nightly', 'noop', every => interval '1 hour',
                                       queue => 'shared', concurrency_key => 'acme');
             select pgtide.trigger_task('nightly', 'manual-1');
             select pgtide.enqueue('boom', queue => 'shared', concurrency_key => 'globex',
                                   idempotency_key => 'b', max_attempts => 2,
                                   retry_strategy => 'fixed', retry_base => interval '0');
             select pgtide.set_key_limit('shared', 4);
             select pgtide.set_key_limit('shared', 9, 'acme');",
        )
        .await
        .unwrap();
    assert_eq!(
        common::one::<String>(
            &t,
            "select concurrency_key from pgtide.executions where idempotency_key = 'manual-1'",
            &[]
        )
        .await,
        "acme"
    );
    let stats: Vec<String> = common::column(
        &t,
        "select concurrency_key || ' ' || queued || ' ' || running || ' ' || concurrency_limit
           from pgtide.key_stats where queue = 'shared' order by 1",
    )
    .await;
    assert_eq!(stats, ["acme 1 0 9", "globex 1 0 4"]);

    // The failing job retries and dies: every attempt and the requeue keep the key.
    let worker = RunningWorker::start(
        &t.db,
        common::registry(vec![
            ("boom", Arc::new(common::handlers::AlwaysFails)),
            ("noop", Arc::new(pgtide::handlers::Noop)),
        ]),
        WorkerConfig {
            queues: vec!["shared".into()],
            ..common::quick_config(2)
        },
    );
    wait_until(Duration::from_secs(20), "the job to die", || async {
        common::promote(&t.db).await;
        scalar(&t, "select count(*) from pgtide.executions where idempotency_key like 'b%' and status = 'dead'").await
            == 1
    })
    .await;
    worker.stop().await;
    client
        .batch_execute("select pgtide.retry_dead(id) from pgtide.executions where status = 'dead'")
        .await
        .unwrap();
    let keys: Vec<String> = common::column(
        &t,
        "select idempotency_key || ' ' || coalesce(concurrency_key, '-')
           from pgtide.executions where idempotency_key like 'b%' order by id",
    )
    .await;
    assert_eq!(keys, ["b globex", "b#2 globex", "b#2:requeued globex"]);
    let _ = pgtide::maintenance::Promoter::new(t.db.clone(), 10)
        .run_once()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rescued_job_frees_its_keys_slot_and_its_stale_worker_is_fenced() {
    use pgtide::maintenance::LeaderService;
    let t = test_db().await;
    let client = t.client().await.unwrap();
    client
        .batch_execute(
            "select pgtide.set_key_limit('shared', 1);
             select pgtide.enqueue('noop', queue => 'shared', concurrency_key => 'acme',
                                   idempotency_key => 'first', retry_strategy => 'fixed',
                                   retry_base => interval '0');
             select pgtide.enqueue('noop', queue => 'shared', concurrency_key => 'acme',
                                   idempotency_key => 'second');",
        )
        .await
        .unwrap();
    // A worker that then vanished claimed the first; the cap of 1 holds the second back.
    let claimed: Vec<i64> = common::column(
        &t,
        "select id from pgtide.claim(array['shared'], 10, 'ghost', 30)",
    )
    .await;
    assert_eq!(claimed.len(), 1, "one job of the key under a cap of 1");
    let worker = RunningWorker::start(
        &t.db,
        pgtide::handlers::Registry::new(),
        WorkerConfig {
            queues: vec!["shared".into()],
            ..common::quick_config(4)
        },
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        common::status_of(&t, claimed[0] + 1).await,
        "queued",
        "the second waits while the first holds the key's only slot"
    );
    // The lease runs out and the rescuer takes the row back: its retry and the second both run.
    client
        .execute(
            "update pgtide.executions set lease_until = now() - interval '1 second' where id = $1",
            &[&claimed[0]],
        )
        .await
        .unwrap();
    let rescued = pgtide::maintenance::Rescuer::new(t.db.clone(), 100)
        .run_once()
        .await
        .unwrap();
    assert_eq!(rescued.len(), 1);
    wait_until(
        Duration::from_secs(20),
        "the retry and the second to succeed",
        || async {
            common::promote(&t.db).await;
            scalar(
                &t,
                "select count(*) from pgtide.executions where status = 'succeeded'",
            )
            .await
                == 2
        },
    )
    .await;
    worker.stop().await;
    // The vanished worker comes back and reports: its completion is refused.
    let recorded: Vec<i64> = common::column(
        &t,
        &format!(
            "select id from pgtide.complete('ghost', array[{id}]::bigint[], array[1], array['{{}}'::jsonb],
                                             '{{}}', '{{}}', '{{}}', '{{}}')",
            id = claimed[0]
        ),
    )
    .await;
    assert!(recorded.is_empty(), "a fenced completion records nothing");
    let rows: Vec<String> = common::column(
        &t,
        "select idempotency_key || ' ' || status::text || ' ' || concurrency_key
           from pgtide.executions order by id",
    )
    .await;
    assert_eq!(
        rows,
        [
            "first failed acme",
            "second succeeded acme",
            "first#2 succeeded acme"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_done_but_not_yet_recorded_still_holds_its_keys_place() {
    let t = test_db().await;
    t.client()
        .await
        .unwrap()
        .batch_execute("select pgtide.set_key_limit('windowed', 2)")
        .await
        .unwrap();
    let jobs: Vec<NewJob> = (0..30)
        .map(|n| {
            NewJob::new("nap")
                .queue("windowed")
                .concurrency_key(["acme", "globex", "initech"][n % 3])
        })
        .collect();
    pgtide::enqueue_many(&t.db, &jobs).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let peaks = sample_running_per_key(t.db.clone(), "windowed", stop.clone());
    // Outcomes wait up to 300 ms for their flush: a finished job stays `running` meanwhile, and its
    // key's place stays taken, so the cap counts it.
    let worker = RunningWorker::start(
        &t.db,
        common::registry(vec![(
            "nap",
            Arc::new(common::handlers::Sleeps(Duration::from_millis(20))),
        )]),
        WorkerConfig {
            queues: vec!["windowed".into()],
            completion_batch: 2,
            completion_window: 2,
            completion_tick: Duration::from_millis(300),
            ..common::quick_config(8)
        },
    );
    wait_for_succeeded(&t, 30, Duration::from_secs(60), "the 30 jobs to succeed").await;
    stop.store(true, Ordering::Relaxed);
    worker.stop().await;
    let (per_key, total) = peaks.lock().unwrap().clone();
    for (key, peak) in &per_key {
        assert!(
            *peak <= 2,
            "{key} had {peak} rows running or unrecorded under a cap of 2"
        );
    }
    assert!(total <= 6, "3 keys x 2 at most: saw {total}");
    assert_eq!(
        scalar(
            &t,
            "select count(*) from pgtide.executions where attempt = 1 and status = 'succeeded'"
        )
        .await,
        30,
        "every job ran once"
    );
}

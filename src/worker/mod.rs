//! The worker: claims jobs, runs their handlers, and records the outcomes.
//!
//! ```text
//!  LISTEN pgtide_jobs ──wake──┐
//!  poll tick ─────────────────┤
//!                             ▼
//!  free slots ──► claim (one statement, SKIP LOCKED) ──► spawn a task per job ──► completer
//!                                                        (timeout, panic catch)    (batched,
//!  heartbeat: extends leases of held rows; a row taken from us aborts its task      fenced)
//! ```
//!
//! A worker claims for its free slots. While its recent jobs are short (under a millisecond), it also
//! claims up to `prefetch` jobs ahead of them: then a claim's round trip, not the jobs, bounds the
//! drain, and one claim of a few hundred rows costs the server far less per row than claims of 16. A job claimed ahead is
//! leased like a running one (the heartbeat extends it, the rescuer takes it back after a crash) and
//! waits in its task for a slot; if none comes within `prefetch_wait`, it goes back to the queue
//! unspent (`pgtide.release`) and the worker stops claiming ahead until its jobs are short again, so
//! a worker whose jobs turned slow never keeps them from an idle one. Completions are coalesced: the completer flushes whatever has accumulated while the
//! previous flush was in flight, one statement per outcome kind, so a busy worker pays one round trip
//! per batch and an idle one pays no added latency.
//!
//! On shutdown the worker stops claiming, waits up to the grace period for held jobs, flushes their
//! outcomes, and leaves. A job still running after the grace keeps its lease and is rescued after it
//! expires, so nothing is lost.

mod completer;
mod execute;
mod heartbeat;
mod sql_batch;
mod warm_up;

pub use sql_batch::MAX_SQL_BATCH;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tokio::{
    sync::{mpsc, Notify, Semaphore},
    task::{AbortHandle, JoinSet},
};
use tokio_util::sync::CancellationToken;

use self::completer::Completion;
use crate::config::{duration_text, positive, ConfigError};
use crate::{
    backoff::Backoff,
    handlers::{Handler, Job, Registry, SqlHandler},
    notify::{self, Event},
    sql, Database, Error, Result,
};

/// Jobs run at once, unless configured.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Lease per claim, unless configured.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// How long a stopping worker waits for held jobs, unless configured.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Fallback poll, unless configured.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Quiet time before the LISTEN connection is pinged, unless configured.
pub const DEFAULT_LISTEN_PING: Duration = Duration::from_secs(15);
/// Most outcomes per flush statement, unless configured.
pub const DEFAULT_COMPLETION_BATCH: usize = 500;
/// Most outcomes finished but not yet recorded, unless configured.
pub const DEFAULT_COMPLETION_WINDOW: usize = 1000;
/// How long outcomes gather before a flush, unless configured.
pub const DEFAULT_COMPLETION_TICK: Duration = Duration::from_millis(1);
/// Most sql-handler jobs in one transaction, unless configured.
pub const DEFAULT_SQL_BATCH: usize = 256;
/// Most jobs claimed ahead of free slots while jobs are short, unless configured.
pub const DEFAULT_PREFETCH: usize = 512;
/// How long a job claimed ahead waits for a slot before it goes back to the queue, unless configured.
pub const DEFAULT_PREFETCH_WAIT: Duration = Duration::from_millis(100);

/// How a worker claims and runs jobs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Queues to claim from.
    pub queues: Vec<String>,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Lease taken per claim; heartbeats extend it every third of it.
    pub lease: Duration,
    /// How long a stopping worker waits for held jobs.
    pub shutdown_grace: Duration,
    /// Fallback poll when no notification arrives.
    pub poll_interval: Duration,
    /// Keep a LISTEN connection for millisecond pickup. `false` is poll-only mode, for transaction
    /// poolers (PgBouncer) that cannot hold a LISTEN session: pickup then takes up to `poll_interval`.
    pub listen: bool,
    /// Ping the LISTEN connection after this much quiet, so a half-open connection is replaced (and
    /// the worker polls meanwhile) within about twice this.
    pub listen_ping: Duration,
    /// Most outcomes recorded by one flush statement.
    pub completion_batch: usize,
    /// Most outcomes finished but not yet recorded. A handler that finishes while the window is full
    /// keeps its slot until there is room, so the worker stops claiming instead of piling up
    /// outcomes. A crash can lose at most this many acknowledgements (their rows stay `running` and
    /// are rescued after the lease, so those jobs run again), besides the `concurrency` jobs running
    /// and the `prefetch` claimed ahead.
    pub completion_window: usize,
    /// How long the completer lets outcomes gather before a flush (a batch that fills flushes at
    /// once). Zero flushes as soon as the previous flush is done. A longer tick means fewer, bigger
    /// flushes (less database work per job) and a later `finished_at`; it never delays a claim.
    pub completion_tick: Duration,
    /// Most sql-handler jobs whose statements share one transaction (at most [`MAX_SQL_BATCH`]); a
    /// failing statement still fails its own job alone. `1` gives every job a transaction of its
    /// own. Statements that take 5 ms or more run alone whatever this says. Two batches run at
    /// once, and twice this many such jobs may wait for the next ones, beyond `concurrency`.
    pub sql_batch: usize,
    /// Most jobs claimed ahead of free slots, to wait in the worker for one. Only while the recent
    /// jobs ran for less than a millisecond: then a claim's round trip, not the jobs, bounds the
    /// drain, and a bigger claim takes more rows per trip. A job claimed ahead holds its lease and its
    /// attempt like a running one (the heartbeat extends it; after a crash the rescuer takes it back);
    /// if no slot comes free within `prefetch_wait` it is put back in the queue, unspent, for any
    /// worker, and the worker stops claiming ahead until its jobs are short again. `0` claims only for
    /// free slots.
    pub prefetch: usize,
    /// How long a job claimed ahead waits for a free slot before it goes back to the queue.
    pub prefetch_wait: Duration,
    /// Identity in `executions.worker_id` and `pgtide.workers`; generated when `None`.
    pub id: Option<String>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            queues: vec!["default".into()],
            concurrency: DEFAULT_CONCURRENCY,
            lease: DEFAULT_LEASE,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            poll_interval: DEFAULT_POLL_INTERVAL,
            listen: true,
            listen_ping: DEFAULT_LISTEN_PING,
            completion_batch: DEFAULT_COMPLETION_BATCH,
            completion_window: DEFAULT_COMPLETION_WINDOW,
            completion_tick: DEFAULT_COMPLETION_TICK,
            sql_batch: DEFAULT_SQL_BATCH,
            prefetch: DEFAULT_PREFETCH,
            prefetch_wait: DEFAULT_PREFETCH_WAIT,
            id: None,
        }
    }
}

impl WorkerConfig {
    /// Checks every setting: the one definition of their ranges, which the builder and the config
    /// file both apply.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the field (`concurrency`), its value and what was expected.
    pub fn check(&self) -> std::result::Result<(), ConfigError> {
        if self.queues.is_empty() || self.queues.iter().any(|q| q.trim().is_empty()) {
            return Err(ConfigError::invalid(
                "queues",
                format!("{:?}", self.queues),
                "a non-empty list of non-empty queue names",
            ));
        }
        for (key, value) in [
            ("concurrency", self.concurrency),
            ("completion_batch", self.completion_batch),
            ("completion_window", self.completion_window),
            ("sql_batch", self.sql_batch),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, 0, "an integer >= 1"));
            }
        }
        if self.sql_batch > MAX_SQL_BATCH {
            return Err(ConfigError::invalid(
                "sql_batch",
                self.sql_batch,
                format!("an integer <= {MAX_SQL_BATCH}"),
            ));
        }
        if self.completion_window < self.completion_batch {
            return Err(ConfigError::invalid(
                "completion_window",
                self.completion_window,
                format!("an integer >= completion_batch ({})", self.completion_batch),
            ));
        }
        if self.completion_tick > Duration::from_secs(1) {
            return Err(ConfigError::invalid(
                "completion_tick",
                duration_text(self.completion_tick),
                "a duration <= 1s",
            ));
        }
        for (key, value) in [
            ("lease", self.lease),
            ("poll_interval", self.poll_interval),
            ("listen_ping", self.listen_ping),
            ("prefetch_wait", self.prefetch_wait),
        ] {
            positive(key, value)?;
        }
        if self.lease < Duration::from_secs(1) {
            return Err(ConfigError::invalid(
                "lease",
                duration_text(self.lease),
                "a duration >= 1s",
            ));
        }
        if self.prefetch_wait >= self.lease {
            return Err(ConfigError::invalid(
                "prefetch_wait",
                duration_text(self.prefetch_wait),
                format!(
                    "a duration shorter than the lease ({})",
                    duration_text(self.lease)
                ),
            ));
        }
        Ok(())
    }
}

/// Builds a [`Worker`]: register handlers by name, then [`WorkerBuilder::build`].
///
/// ```no_run
/// # async fn example(db: pgtide::Database) -> pgtide::Result<()> {
/// use pgtide::{Worker, WorkerConfig};
/// let worker = Worker::builder(db)
///     .config(WorkerConfig { queues: vec!["mail".into()], concurrency: 8, ..Default::default() })
///     .handler("noop2", pgtide::handlers::Noop)
///     .build()?;
/// let shutdown = pgtide::CancellationToken::new();
/// worker.run(shutdown).await?;
/// # Ok(()) }
/// ```
pub struct WorkerBuilder {
    db: Database,
    config: WorkerConfig,
    registry: Registry,
}

impl WorkerBuilder {
    /// Replaces the configuration.
    pub fn config(mut self, config: WorkerConfig) -> Self {
        self.config = config;
        self
    }

    /// Registers an async handler under `name`; the row's timeout applies.
    pub fn handler(mut self, name: impl Into<String>, handler: impl Handler) -> Self {
        self.registry.insert(name, Arc::new(handler), None);
        self
    }

    /// Registers a SQL handler under `name`.
    pub fn sql_handler(mut self, name: impl Into<String>, handler: SqlHandler) -> Self {
        self.registry.insert_sql(name, handler);
        self
    }

    /// Replaces the whole registry (e.g. one built from `pgtide.toml`).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the bad setting.
    pub fn build(self) -> Result<Worker> {
        self.config.check()?;
        let id = self.config.id.clone().unwrap_or_else(generate_worker_id);
        let window = Arc::new(Semaphore::new(self.config.completion_window));
        let sql_batches = sql_batch::SqlBatches::new(self.config.sql_batch);
        let run_slots = Arc::new(Semaphore::new(self.config.concurrency));
        Ok(Worker {
            inner: Arc::new(Inner {
                db: self.db,
                registry: self.registry,
                id: id.into(),
                config: self.config,
                in_flight: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                listening: Arc::new(AtomicBool::new(false)),
                running: AtomicBool::new(false),
                stats: Stats::default(),
                window,
                run_slots,
                sql_batches,
                // Until jobs have run, assume they are slow: claim at once, and only for free slots.
                run_micros: AtomicU64::new(SLOW_START_MICROS),
                unrated_until: Mutex::new(None),
            }),
        })
    }
}

/// Counters of what a worker did, for logs, the demo and tests.
#[derive(Debug, Default)]
pub struct Stats {
    /// Rows claimed.
    pub claimed: AtomicU64,
    /// Attempts recorded as succeeded.
    pub succeeded: AtomicU64,
    /// Attempts recorded as failed or dead.
    pub failed: AtomicU64,
    /// Completions refused because the row was no longer ours (lease lost, cancelled).
    pub fenced: AtomicU64,
    /// Jobs claimed ahead of a free slot and put back in the queue because none came free in time.
    pub released: AtomicU64,
    /// Claims sent before the jobs of the claim before them were handed to their tasks.
    pub claims_sent_ahead: AtomicU64,
    /// Times the worker asked the database how long a rate limit holds its queues back.
    pub rate_waits_asked: AtomicU64,
}

/// A running or runnable worker. Cheap to clone; all clones share one identity.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.inner.id)
            .field("config", &self.inner.config)
            .field("registry", &self.inner.registry)
            .finish()
    }
}

pub(crate) struct InFlight {
    attempt: i32,
    abort: AbortHandle,
    /// The handler finished and its outcome is on its way to the database; losing the lease now is
    /// the completer's business (fencing), not a reason to abort.
    completing: bool,
}

pub(crate) struct Inner {
    db: Database,
    registry: Registry,
    id: Arc<str>,
    config: WorkerConfig,
    in_flight: Mutex<HashMap<i64, InFlight>>,
    wake: Notify,
    listening: Arc<AtomicBool>,
    /// Between the start of [`Worker::run`] and the moment it stops claiming.
    running: AtomicBool,
    stats: Stats,
    /// Room for finished outcomes not yet recorded (`completion_window` permits).
    window: Arc<Semaphore>,
    /// The `concurrency` slots that running handlers take.
    run_slots: Arc<Semaphore>,
    /// Sql-handler jobs waiting to share a transaction.
    sql_batches: sql_batch::SqlBatches,
    /// Moving average of recent handler run times, in microseconds (see `gather_free_slots`).
    run_micros: AtomicU64,
    /// Until when the worker takes it that none of its queues has a rate limit (see `rate_wait`).
    unrated_until: Mutex<Option<std::time::Instant>>,
}

impl Inner {
    /// Records one handler run time in the moving average (weight 1/8).
    pub(crate) fn record_run_time(&self, elapsed: Duration) {
        let sample = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let old = self.run_micros.load(Ordering::Relaxed);
        let new = old - old / 8 + sample / 8;
        self.run_micros.store(new, Ordering::Relaxed);
    }

    /// Marks a held row as finished by its handler: its outcome is on its way to the database, so a
    /// heartbeat that no longer finds it running must neither warn nor abort.
    pub(crate) fn mark_completing(&self, id: i64) {
        if let Some(entry) = self.in_flight.lock().expect("in_flight lock").get_mut(&id) {
            entry.completing = true;
        }
    }

    /// Counts the jobs as slow until enough short runs say otherwise: a job claimed ahead found no
    /// free slot in time, so the running ones are not short.
    pub(crate) fn note_slow_jobs(&self) {
        let slow = u64::try_from(self.config.prefetch_wait.as_micros()).unwrap_or(u64::MAX);
        self.run_micros.fetch_max(slow, Ordering::Relaxed);
    }

    /// The moving average of recent handler run times, in microseconds.
    pub(crate) fn recent_run_micros(&self) -> u64 {
        self.run_micros.load(Ordering::Relaxed)
    }

    /// Whether the recent jobs ran for less than [`GATHER_WAIT`] on average: then claims wait
    /// briefly for busy slots, and take rows ahead of free ones.
    fn jobs_are_short(&self) -> bool {
        self.recent_run_micros() < GATHER_WAIT.as_micros() as u64
    }

    /// A place for a job claimed ahead, with a run slot if one is free now.
    fn place_ahead(&self, held: tokio::sync::OwnedSemaphorePermit) -> execute::Slot {
        execute::Slot {
            _held: held,
            run: self.run_slots.clone().try_acquire_owned().ok(),
        }
    }
}

impl Worker {
    /// Starts building a worker on `db` with the default configuration and the built-in `noop`.
    pub fn builder(db: Database) -> WorkerBuilder {
        WorkerBuilder {
            db,
            config: WorkerConfig::default(),
            registry: Registry::new(),
        }
    }

    /// This worker's id, as stored in `executions.worker_id`.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// What this worker has done so far.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// Whether the LISTEN connection is up (when it is down the worker polls).
    pub fn is_listening(&self) -> bool {
        self.inner.listening.load(Ordering::Relaxed)
    }

    /// Whether the worker is running: started, and not yet stopping.
    pub fn is_running(&self) -> bool {
        self.inner.running.load(Ordering::Relaxed)
    }

    /// Whether this worker is meant to LISTEN (`false` in poll-only mode).
    pub fn listens(&self) -> bool {
        self.inner.config.listen
    }

    /// Runs until `shutdown` is cancelled, then stops claiming, waits up to the shutdown grace for
    /// held jobs, records their outcomes, and returns.
    ///
    /// # Errors
    /// Only when the worker cannot register itself at start. Later database errors are logged and
    /// retried with backoff: a worker outlives database restarts.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<()> {
        let inner = &self.inner;
        let warm = tokio::spawn({
            let inner = inner.clone();
            async move { warm_up::run(&inner).await }
        });
        self.register().await?;
        tracing::info!(worker = %inner.id, queues = ?inner.config.queues,
            concurrency = inner.config.concurrency, handlers = ?inner.registry.names(), "worker started");

        let background = CancellationToken::new();
        let listener = inner.config.listen.then(|| {
            tokio::spawn(notify::listen(
                inner.db.clone(),
                &[sql::LISTEN_JOBS],
                notify::Keepalive::every(inner.config.listen_ping),
                inner.listening.clone(),
                background.clone(),
                {
                    let inner = inner.clone();
                    move |event| match event {
                        Event::Connected => inner.wake.notify_one(),
                        Event::Notification { payload, .. } => {
                            if inner.config.queues.contains(&payload) {
                                inner.wake.notify_one();
                            }
                        }
                    }
                },
            ))
        });
        let heartbeat = tokio::spawn(heartbeat::run(inner.clone(), background.clone()));
        // Every sender holds a window permit first, so the channel never holds more than the window.
        let (completions, outcomes) = mpsc::channel(inner.config.completion_window);
        let completer = tokio::spawn(completer::run(inner.clone(), outcomes));

        let mut jobs = JoinSet::new();
        inner.running.store(true, Ordering::Relaxed);
        self.claim_loop(&mut jobs, &completions, &shutdown).await;
        inner.running.store(false, Ordering::Relaxed);

        // Shutdown: no more claims. Give held jobs the grace period.
        while jobs.try_join_next().is_some() {}
        let held = jobs.len();
        if held > 0 {
            tracing::info!(worker = %inner.id, held, grace = ?inner.config.shutdown_grace,
                "stopping: waiting for held jobs");
        }
        let deadline = tokio::time::Instant::now() + inner.config.shutdown_grace;
        while !jobs.is_empty() {
            match tokio::time::timeout_at(deadline, jobs.join_next()).await {
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(worker = %inner.id, still_running = jobs.len(),
                        "shutdown grace elapsed: leaving the remaining jobs leased; the rescuer retries them after their lease expires");
                    jobs.abort_all();
                    while jobs.join_next().await.is_some() {}
                    break;
                }
            }
        }
        drop(completions);
        // Outcomes already produced are recorded unless the database stays away for a whole lease.
        if tokio::time::timeout(inner.config.lease, completer)
            .await
            .is_err()
        {
            tracing::error!(worker = %inner.id,
                "could not record the last completions; their rows stay running and will be rescued");
        }
        background.cancel();
        if let Some(listener) = listener {
            let _ = listener.await;
        }
        let _ = heartbeat.await;
        let _ = warm.await;
        self.deregister().await;
        tracing::info!(worker = %inner.id, "worker stopped");
        Ok(())
    }

    async fn claim_loop(
        &self,
        jobs: &mut JoinSet<()>,
        completions: &mpsc::Sender<Completion>,
        shutdown: &CancellationToken,
    ) {
        let inner = &self.inner;
        // Every job the worker holds, running or claimed ahead, takes one of these.
        let held = Arc::new(Semaphore::new(
            inner.config.concurrency + inner.config.prefetch,
        ));
        let lease_secs = inner.config.lease.as_secs_f64();
        // A failed claim is retried no later than the next poll would have come, and at once when any
        // connection succeeds again or a notification arrives: the database is back.
        let mut backoff = Backoff::new(Duration::from_millis(50), inner.config.poll_interval);
        let mut failing = false;
        // A claim sent ahead (see below) and the places it was sent for.
        let mut ahead: Option<(Result<Vec<Job>>, Vec<execute::Slot>)> = None;
        loop {
            let (claimed, slots) = match ahead.take() {
                Some(sent) => sent,
                None => {
                    while jobs.try_join_next().is_some() {}
                    let Some(slots) = self.gather_slots(&held, shutdown).await else {
                        return;
                    };
                    tracing::trace!(wanted = slots.len(), "claiming");
                    (self.claim(slots.len(), lease_secs).await, slots)
                }
            };
            let wanted = slots.len();
            match claimed {
                Ok(claimed) => {
                    tracing::trace!(got = claimed.len(), "claimed");
                    backoff.reset();
                    if std::mem::take(&mut failing) {
                        tracing::info!(worker = %inner.id, "claiming again: the database is back");
                    }
                    let got = claimed.len();
                    // A full claim of short jobs means more are due: the next claim goes out before
                    // this one's jobs are handed to their tasks, so the server works on it while
                    // the worker does that, instead of waiting for the worker.
                    let next = if got == wanted && !shutdown.is_cancelled() {
                        self.places_free_now(&held)
                    } else {
                        None
                    };
                    let Some(next) = next else {
                        self.dispatch(jobs, completions, claimed, slots);
                        if got < wanted {
                            // Drained, or held back by a limit: sleep until a notification (a new
                            // job, or a finished one that makes room under a cap), the poll tick,
                            // the moment a rate limit allows the next start, or shutdown.
                            let nap = self
                                .rate_wait()
                                .await
                                .map_or(inner.config.poll_interval, |wait| {
                                    wait.min(inner.config.poll_interval)
                                });
                            tracing::trace!(?nap, "waiting for work");
                            tokio::select! {
                                () = inner.wake.notified() => {}
                                () = tokio::time::sleep(nap) => {}
                                () = shutdown.cancelled() => return,
                            }
                        }
                        continue;
                    };
                    tracing::trace!(wanted = next.len(), "claiming ahead");
                    inner
                        .stats
                        .claims_sent_ahead
                        .fetch_add(1, Ordering::Relaxed);
                    let (sent, ()) = tokio::join!(self.claim(next.len(), lease_secs), async {
                        self.dispatch(jobs, completions, claimed, slots);
                        while jobs.try_join_next().is_some() {}
                    });
                    ahead = Some((sent, next));
                }
                Err(e) => {
                    drop(slots);
                    failing = true;
                    let delay = backoff.next_delay();
                    tracing::warn!(worker = %inner.id, error = %e, retry_in = ?delay, "claim failed");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = inner.wake.notified() => {}
                        () = inner.db.reconnected() => {}
                        () = shutdown.cancelled() => return,
                    }
                }
            }
        }
    }

    /// Hands each claimed job to a task of its own, in the place its slot holds.
    fn dispatch(
        &self,
        jobs: &mut JoinSet<()>,
        completions: &mpsc::Sender<Completion>,
        claimed: Vec<Job>,
        slots: Vec<execute::Slot>,
    ) {
        let inner = &self.inner;
        for (job, slot) in claimed.into_iter().zip(slots) {
            let id = job.id;
            let attempt = job.attempt;
            // Holding the map lock across the spawn makes the task's entry exist before the task can
            // finish and look it up.
            let mut in_flight = inner.in_flight.lock().expect("in_flight lock");
            let abort = jobs.spawn(execute::run(inner.clone(), job, completions.clone(), slot));
            in_flight.insert(
                id,
                InFlight {
                    attempt,
                    abort,
                    completing: false,
                },
            );
        }
    }

    /// The places free right now for a claim sent ahead, without waiting for any: `None` unless
    /// jobs are short, prefetch is on and at least half of a claim's worth is free.
    fn places_free_now(&self, held: &Arc<Semaphore>) -> Option<Vec<execute::Slot>> {
        let inner = &self.inner;
        let config = &inner.config;
        if config.prefetch == 0 || !inner.jobs_are_short() {
            return None;
        }
        let per_claim = places_per_claim(config);
        let free = held.available_permits().min(per_claim);
        if free < per_claim.div_ceil(2) {
            return None;
        }
        let mut places = held.clone().try_acquire_many_owned(free as u32).ok()?;
        Some(
            (0..free)
                .map(|_| inner.place_ahead(places.split(1).expect("one of the places acquired")))
                .collect(),
        )
    }

    /// Waits for room to claim, and returns a slot for each job of the next claim; `None` on
    /// shutdown.
    ///
    /// While the recent jobs are short (and `prefetch` allows), a claim takes a row for every place
    /// free among `concurrency + prefetch`: the jobs beyond the free run slots wait in the worker for
    /// one, a millisecond or so. Otherwise it takes one for every free run slot, so a slow job never
    /// waits behind another in one worker while another worker is idle.
    async fn gather_slots(
        &self,
        held: &Arc<Semaphore>,
        shutdown: &CancellationToken,
    ) -> Option<Vec<execute::Slot>> {
        let inner = &self.inner;
        let config = &inner.config;
        if config.prefetch > 0 && inner.jobs_are_short() {
            let mut places = vec![first_permit(held, shutdown).await?];
            gather_free_slots(inner, held, &mut places, places_per_claim(config)).await;
            return Some(
                places
                    .into_iter()
                    .map(|held| inner.place_ahead(held))
                    .collect(),
            );
        }
        let mut runs = vec![first_permit(&inner.run_slots, shutdown).await?];
        gather_free_slots(inner, &inner.run_slots, &mut runs, config.concurrency).await;
        let mut slots = Vec::with_capacity(runs.len());
        for run in runs {
            // A free run slot almost always has a free place beside it; the jobs claimed ahead hold
            // the others, and each of them soon runs or is given back.
            let held = held
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            slots.push(execute::Slot {
                _held: held,
                run: Some(run),
            });
        }
        Some(slots)
    }

    /// Claims up to `limit` rows in one statement (`pgtide.claim`): one round trip, one implicit
    /// transaction, committed asynchronously.
    ///
    /// # Transactions and locks
    /// Locks the `pgtide.queues` rows of this worker's limited queues until its commit, so claims of
    /// a limited queue are serialized across workers (its cap holds), while unlimited queues are
    /// claimed with SKIP LOCKED alone.
    async fn claim(&self, limit: usize, lease_secs: f64) -> Result<Vec<Job>> {
        let inner = &self.inner;
        let db = &inner.db;
        let client = db.client().await?;
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let worker = &*inner.id;
        let rows = db
            .query(
                &client,
                sql::CLAIM,
                &[&inner.config.queues, &limit, &worker, &lease_secs],
            )
            .await?;
        inner
            .stats
            .claimed
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        Ok(rows
            .into_iter()
            .map(|row| {
                let queue: String = row.get("queue");
                metrics::histogram!(crate::metrics::PICKUP_LATENCY, "queue" => queue.clone())
                    .record(row.get::<_, f64>("pickup_secs").max(0.0));
                Job {
                    id: row.get("id"),
                    handler: row.get("handler"),
                    queue,
                    payload: row.get("payload"),
                    attempt: row.get("attempt"),
                    max_attempts: row.get("max_attempts"),
                    idempotency_key: row.get("idempotency_key"),
                    task_id: row.get("task_id"),
                    timeout: Duration::from_secs_f64(row.get::<_, f64>("timeout_secs").max(0.001)),
                    worker_id: inner.id.clone(),
                }
            })
            .collect())
    }

    /// How long until a rate limit of this worker's queues allows a start that a due row waits for;
    /// `None` when none holds one back (or the question failed: the poll tick covers it).
    ///
    /// An idle worker woken for each new job asks after every claim, and the question is a round
    /// trip and a statement the server runs while the job's handler starts. So an answer that none of
    /// the queues has a rate limit is kept for a poll interval: a limit set meanwhile is still
    /// honoured by every claim, and the worker learns to sleep until its window opens within one
    /// poll interval (until then it sleeps until a notification or its poll).
    async fn rate_wait(&self) -> Option<Duration> {
        let inner = &self.inner;
        let unrated = || inner.unrated_until.lock().expect("unrated_until lock");
        if unrated().is_some_and(|until| std::time::Instant::now() < until) {
            return None;
        }
        inner.stats.rate_waits_asked.fetch_add(1, Ordering::Relaxed);
        let asked = async {
            let client = inner.db.client().await?;
            let row = inner
                .db
                .query_one(&client, sql::RATE_WAIT, &[&inner.config.queues])
                .await?;
            Ok::<_, Error>((
                row.get::<_, Option<f64>>("wait_secs"),
                row.get::<_, bool>("rated"),
            ))
        }
        .await;
        match asked {
            Ok((wait, rated)) => {
                *unrated() =
                    (!rated).then(|| std::time::Instant::now() + inner.config.poll_interval);
                wait.map(|secs| Duration::from_secs_f64(secs.max(0.001)))
            }
            Err(e) => {
                tracing::debug!(worker = %inner.id, error = %e, "could not ask for a rate limit's wait");
                None
            }
        }
    }

    async fn register(&self) -> Result<()> {
        let inner = &self.inner;
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let client = inner.db.client().await?;
        inner
            .db
            .execute(
                &client,
                sql::WORKER_REGISTER,
                &[
                    &&*inner.id,
                    &host,
                    &(std::process::id() as i32),
                    &inner.config.queues,
                    &(inner.config.concurrency as i32),
                ],
            )
            .await?;
        Ok(())
    }

    async fn deregister(&self) {
        let inner = &self.inner;
        let result = async {
            let client = inner.db.client().await?;
            inner
                .db
                .execute(&client, sql::WORKER_DEREGISTER, &[&&*inner.id])
                .await?;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = result {
            tracing::debug!(worker = %inner.id, error = %e, "could not remove the worker row");
        }
    }
}

/// Waits for a permit of `slots`; `None` on shutdown.
async fn first_permit(
    slots: &Arc<Semaphore>,
    shutdown: &CancellationToken,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    tokio::select! {
        permit = slots.clone().acquire_owned() => Some(permit.expect("the semaphore is never closed")),
        () = shutdown.cancelled() => None,
    }
}

/// Adds every free permit of `slots` to `permits`, up to `wanted`, and when jobs are short, waits
/// briefly for the busy ones.
///
/// Each claim costs the server a fixed amount of work however many rows it takes, so bigger claims
/// are cheaper per job. When the recent jobs ran for less than [`GATHER_WAIT`], the busy slots are
/// about to come back (a burst of short jobs ends together): waiting up to that long for them lets
/// one claim fill every slot instead of one claim per slot. Slow jobs never wait here: a slot freed
/// by a long job is claimed for at once.
async fn gather_free_slots(
    inner: &Inner,
    slots: &Arc<Semaphore>,
    permits: &mut Vec<tokio::sync::OwnedSemaphorePermit>,
    wanted: usize,
) {
    while permits.len() < wanted {
        match slots.clone().try_acquire_owned() {
            Ok(permit) => permits.push(permit),
            Err(_) => break,
        }
    }
    if permits.len() >= wanted || !inner.jobs_are_short() {
        return;
    }
    let deadline = tokio::time::Instant::now() + GATHER_WAIT;
    while permits.len() < wanted {
        match tokio::time::timeout_at(deadline, slots.clone().acquire_owned()).await {
            Ok(permit) => permits.push(permit.expect("the semaphore is never closed")),
            Err(_) => return,
        }
    }
}

/// The most places one claim takes while jobs are short: half of `concurrency + prefetch` (and never
/// fewer than `concurrency`), so that the next claim can go out while the last one's jobs still hold
/// theirs.
fn places_per_claim(config: &WorkerConfig) -> usize {
    ((config.concurrency + config.prefetch) / 2).max(config.concurrency)
}

/// The run time assumed before any job has run: one second, so a new worker claims only for its free
/// slots until a few dozen short jobs have brought the average under [`GATHER_WAIT`].
const SLOW_START_MICROS: u64 = 1_000_000;

/// The longest [`gather_free_slots`] waits for busy slots, and the run time under which jobs count
/// as short.
const GATHER_WAIT: Duration = Duration::from_millis(1);

/// `host:pid:random`, unique across restarts so a restarted process never inherits the leases (and
/// completions) of its predecessor.
fn generate_worker_id() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!(
        "{host}:{}:{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(config: WorkerConfig) -> String {
        config.check().unwrap_err().within("worker").to_string()
    }

    #[test]
    fn check_names_the_field_the_value_and_the_range() {
        WorkerConfig::default().check().unwrap();
        let base = WorkerConfig::default;
        assert_eq!(
            error(WorkerConfig {
                concurrency: 0,
                ..base()
            }),
            "worker.concurrency: 0: expected an integer >= 1"
        );
        assert_eq!(
            error(WorkerConfig {
                lease: Duration::ZERO,
                ..base()
            }),
            "worker.lease: 0s: expected a duration > 0"
        );
        assert_eq!(
            error(WorkerConfig {
                lease: Duration::from_millis(500),
                ..base()
            }),
            "worker.lease: 500ms: expected a duration >= 1s"
        );
        assert_eq!(
            error(WorkerConfig {
                completion_window: 10,
                completion_batch: 20,
                ..base()
            }),
            "worker.completion_window: 10: expected an integer >= completion_batch (20)"
        );
        assert_eq!(
            error(WorkerConfig {
                queues: vec![" ".into()],
                ..base()
            }),
            "worker.queues: [\" \"]: expected a non-empty list of non-empty queue names"
        );
        assert_eq!(
            error(WorkerConfig {
                sql_batch: 1025,
                ..base()
            }),
            "worker.sql_batch: 1025: expected an integer <= 1024"
        );
        assert_eq!(
            error(WorkerConfig {
                prefetch_wait: Duration::from_secs(30),
                ..base()
            }),
            "worker.prefetch_wait: 30s: expected a duration shorter than the lease (30s)"
        );
    }
}

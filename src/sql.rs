//! Every runtime statement pgtide sends, one constant per file under `sql/queries/<module>/`, in a
//! folder named for the module that sends it.
//!
//! Keeping SQL out of Rust string literals means a reviewer can read every statement pgtide runs in
//! one folder, and a DBA can `EXPLAIN` them without reading Rust.

macro_rules! queries {
    ($($(#[$doc:meta])* $name:ident = $file:literal;)*) => {
        $(
            $(#[$doc])*
            pub(crate) const $name: &str = include_str!(concat!("../sql/queries/", $file));
        )*
    };
}

queries! {
    /// Opens a transaction (sent pipelined with the statements that follow it).
    TX_BEGIN = "db/tx_begin.sql";
    /// Commits a transaction (a transaction aborted by an error is rolled back instead).
    TX_COMMIT = "db/tx_commit.sql";
    /// Rolls a transaction back.
    TX_ROLLBACK = "db/tx_rollback.sql";
    /// Claims up to `$2` queued rows of the queues `$1` for worker `$3` with a lease of `$4` seconds,
    /// through `pgtide.claim` (one statement, asynchronous commit).
    CLAIM = "worker/claim.sql";
    /// Puts rows claimed ahead of free slots back in the queue, unspent, through `pgtide.release`.
    RELEASE = "worker/release.sql";
    /// Seconds until a rate limit of the queues `$1` allows a start (`pgtide.rate_wait`); NULL for none.
    RATE_WAIT = "worker/rate_wait.sql";
    /// Records a completion flush (successes and failures) through `pgtide.complete`.
    COMPLETE = "worker/complete.sql";
    /// Marks a sql-handler batch's succeeded rows succeeded, fenced on (id, attempt, status, worker),
    /// in the transaction of their statements; fails unless every row was marked.
    COMPLETE_SUCCEEDED = "worker/complete_succeeded.sql";
    /// Extends the leases of the rows this worker still holds; returns the ones it still holds.
    EXTEND_LEASES = "worker/extend_leases.sql";
    /// Inserts or refreshes this worker's row in `pgtide.workers`.
    WORKER_REGISTER = "worker/register.sql";
    /// Refreshes `last_seen_at` of this worker's row.
    WORKER_SEEN = "worker/seen.sql";
    /// Removes this worker's row on a clean exit.
    WORKER_DEREGISTER = "worker/deregister.sql";
    /// Enqueues one job through `pgtide.enqueue`.
    ENQUEUE = "enqueue/enqueue.sql";
    /// Enqueues many jobs in one statement; returns every row's id, existing keys included.
    ENQUEUE_MANY = "enqueue/many.sql";
    /// Looks up the ids of existing keys (the rare race in which a concurrent insert won).
    IDS_BY_KEY = "enqueue/ids_by_key.sql";
    /// Takes or renews the named leader lease.
    LEADER_ACQUIRE = "leader/acquire.sql";
    /// Gives the leader lease up on a clean exit.
    LEADER_RELEASE = "leader/release.sql";
    /// Checks that `$2` still holds the lease `$1` and locks it until the transaction ends.
    LEADER_FENCE = "leader/fence.sql";
    /// Promotes due scheduled rows to queued and notifies their queues.
    PROMOTE = "maintenance/promote.sql";
    /// When the next scheduled row becomes due.
    NEXT_SCHEDULED = "maintenance/next_scheduled.sql";
    /// Turns expired leases into failed attempts (with retries) or dead rows.
    RESCUE = "maintenance/rescue.sql";
    /// Deletes one batch of finished rows older than the retention of their statuses.
    PRUNE = "maintenance/prune.sql";
    /// Deletes one batch of audit-log rows past their retention (`pgtide.prune_audit`).
    PRUNE_AUDIT = "maintenance/prune_audit.sql";
    /// Deletes one batch of finished webhook deliveries and alert events past their retention.
    PRUNE_ALERTS = "maintenance/prune_alerts.sql";
    /// One batch of stale rate-limit logs (`pgtide.rate_windows`), at most `$1` rows.
    PRUNE_RATE_WINDOWS = "maintenance/prune_rate_windows.sql";
    /// Whether the queue table has piled up enough dead row versions to vacuum it now.
    VACUUM_DUE = "maintenance/vacuum_due.sql";
    /// Vacuums the queue table without waiting for locks or truncating it.
    VACUUM = "maintenance/vacuum.sql";
    /// Forgets workers that have not been seen for a long time.
    PRUNE_WORKERS = "maintenance/prune_workers.sql";
    /// Whether the migration history table and the schema files' table exist.
    SCHEMA_HISTORY_EXISTS = "migrate/schema_history_exists.sql";
    /// The newest applied migration version.
    SCHEMA_VERSION = "migrate/schema_version.sql";
    /// Takes the migration lock.
    MIGRATION_LOCK = "migrate/migration_lock.sql";
    /// Releases the migration lock.
    MIGRATION_UNLOCK = "migrate/migration_unlock.sql";
    /// Creates the pgtide schema (refinery's history table lives in it).
    CREATE_SCHEMA = "migrate/create_schema.sql";
    /// Creates the table that records the applied files of `sql/schema/`.
    CREATE_SCHEMA_FILES = "migrate/create_schema_files.sql";
    /// The applied files of `sql/schema/` and their checksums.
    SCHEMA_FILES = "migrate/schema_files.sql";
    /// Records one applied file of `sql/schema/`.
    RECORD_SCHEMA_FILE = "migrate/record_schema_file.sql";
    /// The migrations recorded below the baseline (a database built before the squash).
    SQUASHED_HISTORY = "migrate/squashed_history.sql";
    /// Replaces the squashed migrations' history rows with the baseline's.
    REPLACE_SQUASHED = "migrate/replace_squashed.sql";
    /// Sets `statement_timeout` and `idle_in_transaction_session_timeout` for the current transaction.
    SET_STATEMENT_TIMEOUT = "worker/set_statement_timeout.sql";
    /// Locks a sql-handler batch's rows that still run their attempt on this worker.
    LOCK_RUNNING = "worker/lock_running.sql";
    /// Opens the savepoint of a batch's first statement.
    SAVEPOINT_FIRST = "worker/savepoint_first.sql";
    /// Keeps the previous statement's effect and opens the next statement's savepoint.
    SAVEPOINT_NEXT = "worker/savepoint_next.sql";
    /// Undoes the failed statement's effect alone.
    SAVEPOINT_ROLLBACK = "worker/savepoint_rollback.sql";
    /// Subscribes a connection to `pgtide_jobs`.
    LISTEN_JOBS = "worker/listen_jobs.sql";
    /// Subscribes a connection to `pgtide_tasks`.
    LISTEN_TASKS = "scheduler/listen_tasks.sql";
    /// Locks due (or unplanned) tasks for one scheduler pass.
    SCHEDULER_CLAIM = "scheduler/claim.sql";
    /// Inserts the executions of fired slots.
    SCHEDULER_FIRE = "scheduler/fire.sql";
    /// Advances tasks after a pass.
    SCHEDULER_UPDATE = "scheduler/update.sql";
    /// When the next slot is due.
    SCHEDULER_NEXT_DUE = "scheduler/next_due.sql";
    /// Admin API: `sql/queries/admin/cancel.sql`.
    ADMIN_CANCEL = "admin/cancel.sql";
    /// Admin API: `sql/queries/admin/create_task.sql`.
    ADMIN_CREATE_TASK = "admin/create_task.sql";
    /// Admin API: `sql/queries/admin/dead_letters.sql`.
    ADMIN_DEAD_LETTERS = "admin/dead_letters.sql";
    /// Admin API: `sql/queries/admin/delete_task.sql`.
    ADMIN_DELETE_TASK = "admin/delete_task.sql";
    /// Admin API: `sql/queries/admin/job.sql`.
    ADMIN_JOB = "admin/job.sql";
    /// Admin API: `sql/queries/admin/job_chain.sql`.
    ADMIN_JOB_CHAIN = "admin/job_chain.sql";
    /// Admin API: `sql/queries/admin/jobs.sql`.
    ADMIN_JOBS = "admin/jobs.sql";
    /// Admin API: `sql/queries/admin/now.sql`.
    ADMIN_NOW = "admin/now.sql";
    /// Admin API: `sql/queries/admin/pause_queue.sql`.
    ADMIN_PAUSE_QUEUE = "admin/pause_queue.sql";
    /// Admin API: `sql/queries/admin/pause_task.sql`.
    ADMIN_PAUSE_TASK = "admin/pause_task.sql";
    /// Admin API: `sql/queries/admin/ping.sql`.
    ADMIN_PING = "admin/ping.sql";
    /// Admin API: `sql/queries/admin/queues.sql`.
    ADMIN_QUEUES = "admin/queues.sql";
    /// Admin API: `sql/queries/admin/resume_queue.sql`.
    ADMIN_RESUME_QUEUE = "admin/resume_queue.sql";
    /// Admin API: `sql/queries/admin/resume_task.sql`.
    ADMIN_RESUME_TASK = "admin/resume_task.sql";
    /// Admin API: `sql/queries/admin/retry_dead.sql`.
    ADMIN_RETRY_DEAD = "admin/retry_dead.sql";
    /// Admin API: `sql/queries/admin/retry_dead_all.sql`.
    ADMIN_RETRY_DEAD_ALL = "admin/retry_dead_all.sql";
    /// Admin API: `sql/queries/admin/set_queue_limit.sql`.
    ADMIN_SET_QUEUE_LIMIT = "admin/set_queue_limit.sql";
    /// Admin API: `sql/queries/admin/set_key_limit.sql`.
    ADMIN_SET_KEY_LIMIT = "admin/set_key_limit.sql";
    /// Admin API: `sql/queries/admin/set_rate_limit.sql`.
    ADMIN_SET_RATE_LIMIT = "admin/set_rate_limit.sql";
    /// Admin API: `sql/queries/admin/key_stats.sql`.
    ADMIN_KEY_STATS = "admin/key_stats.sql";
    /// Admin API: `sql/queries/admin/task.sql`.
    ADMIN_TASK = "admin/task.sql";
    /// Admin API: `sql/queries/admin/task_name.sql`.
    ADMIN_TASK_NAME = "admin/task_name.sql";
    /// Admin API: `sql/queries/admin/tasks.sql`.
    ADMIN_TASKS = "admin/tasks.sql";
    /// Admin API: `sql/queries/admin/trigger_task.sql`.
    ADMIN_TRIGGER_TASK = "admin/trigger_task.sql";
    /// Per-queue gauges for `/metrics`: depth, oldest due age, dead letters.
    METRICS_GAUGES = "metrics/gauges.sql";
    /// How many workers have a recent heartbeat.
    WORKERS_LIVE = "metrics/workers_live.sql";
    /// One task's schedule columns, by name.
    TASK_SCHEDULE = "scheduler/task_schedule.sql";
    /// Alert rule `failure_rate`: failed share per queue or handler over a window.
    ALERT_FAILURE_RATE = "alerts/failure_rate.sql";
    /// Alert rule `oldest_due`: queues whose oldest due job waited too long.
    ALERT_OLDEST_DUE = "alerts/oldest_due.sql";
    /// Alert rule `dead_letters`: dead letters above a count or growing.
    ALERT_DEAD_LETTERS = "alerts/dead_letters.sql";
    /// Alert rule `overdue_running`: running past timeout plus grace.
    ALERT_OVERDUE_RUNNING = "alerts/overdue_running.sql";
    /// Alert rule `no_worker`: due jobs and no live worker for the queue.
    ALERT_NO_WORKER = "alerts/no_worker.sql";
    /// Alert rule `task_invalid`: invalid tasks.
    ALERT_TASK_INVALID = "alerts/task_invalid.sql";
    /// The (rule, subject) pairs firing now.
    ALERT_FIRING = "alerts/firing.sql";
    /// Records an alert event and its pending deliveries.
    ALERT_RECORD = "alerts/record.sql";
    /// Deliveries due now.
    ALERT_PENDING = "alerts/pending.sql";
    /// Marks a delivery sent.
    ALERT_DELIVERED = "alerts/delivered.sql";
    /// Records a failed delivery attempt.
    ALERT_DELIVERY_FAILED = "alerts/delivery_failed.sql";
    /// Admin API: what fires now (`pgtide.alerts`).
    ADMIN_ALERTS = "admin/alerts.sql";
    /// Admin API: the latest alert events with their deliveries.
    ADMIN_ALERT_EVENTS = "admin/alert_events.sql";
    /// Admin API: workers with their running counts.
    ADMIN_WORKERS = "admin/workers.sql";
    /// Admin API: the leader leases.
    ADMIN_LEADERS = "admin/leaders.sql";
    /// Admin API: the latest audit entries.
    ADMIN_AUDIT = "admin/audit.sql";
    /// Admin API: attempts finished per queue and minute.
    ADMIN_QUEUE_MINUTES = "admin/queue_minutes.sql";
}

-- pgtide core schema: the SQL contract of DESIGN.md.
--
-- Names here are a public interface (users, tests and other tools depend on them): add, never rename.
-- The schema itself is created by the migration runner before refinery starts, because refinery keeps
-- its history table inside it (pgtide.refinery_schema_history).

create type pgtide.execution_status as enum (
    'scheduled',  -- visible_at is in the future (a delayed job or a pending retry)
    'queued',     -- due: a worker may claim it
    'running',    -- claimed; worker_id and lease_until say by whom and until when
    'succeeded',
    'failed',     -- this attempt failed and the next attempt's row exists
    'dead',       -- attempts exhausted or a permanent error: the dead-letter queue
    'cancelled'
);

comment on type pgtide.execution_status is
    'Life cycle of one attempt: scheduled -> queued -> running -> succeeded | failed (+ retry row) | dead; '
    'scheduled/queued/running -> cancelled.';

-- Task definitions. The scheduler (next issue) fires them into pgtide.executions. Columns that the
-- scheduler must parse (cron, timezone) are deliberately not CHECKed here beyond their shape: a row that
-- does not parse becomes status = 'invalid' with last_error, instead of being refused, so raw INSERTs
-- from other tools are never lost.
create table pgtide.tasks (
    id              bigint generated always as identity primary key,
    name            text        not null unique,
    handler         text        not null,
    payload         jsonb       not null default '{}',
    cron            text,
    every           interval,
    run_at          timestamptz,
    timezone        text        not null default 'UTC',
    queue           text        not null default 'default',
    priority        smallint    not null default 0,
    max_attempts    int         not null default 5,
    retry_strategy  text        not null default 'exponential',
    retry_base      interval    not null default '10 seconds',
    retry_max       interval    not null default '1 hour',
    timeout         interval    not null default '5 minutes',
    overlap         text        not null default 'allow',
    misfire         text        not null default 'fire_once',
    status          text        not null default 'active',
    next_run_at     timestamptz,
    last_run_at     timestamptz,
    last_error      text,
    tags            text[]      not null default '{}',
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint tasks_name_not_empty check (name <> ''),
    constraint tasks_handler_not_empty check (handler <> ''),
    constraint tasks_queue_not_empty check (queue <> ''),
    constraint tasks_one_schedule check (num_nonnulls(cron, every, run_at) = 1),
    constraint tasks_max_attempts_positive check (max_attempts >= 1),
    constraint tasks_retry_strategy_known check (retry_strategy in ('fixed', 'exponential')),
    constraint tasks_retry_base_not_negative check (retry_base >= interval '0'),
    constraint tasks_retry_max_not_negative check (retry_max >= interval '0'),
    constraint tasks_timeout_positive check (timeout > interval '0'),
    constraint tasks_overlap_known check (overlap in ('allow', 'skip')),
    constraint tasks_misfire_known check (misfire in ('fire_once', 'skip', 'catch_up')),
    constraint tasks_status_known check (status in ('active', 'paused', 'finished', 'invalid'))
);

create index tasks_due_idx on pgtide.tasks (next_run_at) where status = 'active';

-- The queue and the history in one table: one row per attempt.
--
-- Storage is tuned for churn: every row is inserted, updated two or three times and then deleted by the
-- pruner. fillfactor 80 leaves room on each page for HOT updates (none of the updated columns is in an
-- index except status, whose partial indexes are small), and autovacuum runs on 1% dead rows instead of
-- the default 20%, so a busy queue never waits for a huge table-wide vacuum.
create table pgtide.executions (
    id               bigint generated always as identity primary key,
    task_id          bigint references pgtide.tasks (id) on delete set null,
    task_name        text,
    queue            text        not null default 'default',
    handler          text        not null,
    payload          jsonb       not null default '{}',
    priority         smallint    not null default 0,
    status           pgtide.execution_status not null default 'queued',
    attempt          int         not null default 1,
    max_attempts     int         not null default 5,
    retry_strategy   text        not null default 'exponential',
    retry_base       interval    not null default '10 seconds',
    retry_max        interval    not null default '1 hour',
    timeout          interval    not null default '5 minutes',
    idempotency_key  text        not null default gen_random_uuid()::text,
    retry_of         bigint,
    scheduled_for    timestamptz,
    visible_at       timestamptz not null default now(),
    worker_id        text,
    started_at       timestamptz,
    lease_until      timestamptz,
    finished_at      timestamptz,
    error            text,
    result           jsonb,
    created_at       timestamptz not null default now(),
    constraint executions_idempotency_key_key unique (idempotency_key),
    constraint executions_handler_not_empty check (handler <> ''),
    constraint executions_queue_not_empty check (queue <> ''),
    constraint executions_attempt_positive check (attempt >= 1),
    constraint executions_max_attempts_positive check (max_attempts >= 1),
    constraint executions_retry_strategy_known check (retry_strategy in ('fixed', 'exponential')),
    constraint executions_retry_base_not_negative check (retry_base >= interval '0'),
    constraint executions_retry_max_not_negative check (retry_max >= interval '0'),
    constraint executions_timeout_positive check (timeout > interval '0'),
    constraint executions_running_has_lease check (
        status <> 'running' or (worker_id is not null and lease_until is not null))
) with (
    fillfactor = 80,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02
);

-- Claim: only due rows are in this index, so a claim costs the same with a million scheduled or finished
-- rows beside them.
create index executions_claim_idx on pgtide.executions (queue, priority, visible_at, id)
    where status = 'queued';
-- Promoter: pending delayed jobs and retries, earliest first.
create index executions_scheduled_idx on pgtide.executions (visible_at) where status = 'scheduled';
-- Rescuer: running rows by lease expiry.
create index executions_lease_idx on pgtide.executions (lease_until) where status = 'running';
-- History per task and the pruner's scans.
create index executions_task_idx on pgtide.executions (task_id, id) where task_id is not null;
create index executions_finished_idx on pgtide.executions (finished_at)
    where status in ('succeeded', 'failed', 'dead', 'cancelled');

-- The maintenance leader's lease. A row, not a session advisory lock: advisory locks are tied to a
-- server session and silently break behind transaction poolers such as PgBouncer.
create table pgtide.leader (
    name         text primary key,
    holder       text        not null,
    acquired_at  timestamptz not null default now(),
    expires_at   timestamptz not null
);

-- Live worker processes, refreshed by their heartbeats. Informational: correctness never depends on it
-- (leases on the execution rows do that), but operators want to see who is out there.
create table pgtide.workers (
    id               text primary key,
    host             text        not null,
    pid              int         not null,
    queues           text[]      not null,
    concurrency      int         not null,
    started_at       timestamptz not null default now(),
    last_seen_at     timestamptz not null default now()
);

-- Executions: the queue and the history in one table, one row per attempt.
--
-- The current shape of these tables. `pgtide migrate` does not run this file: the tables are made by
-- the migrations in sql/migrations/ (a baseline, then deltas), and a test checks that they build
-- exactly this. A change here is a change there too (see sql/schema/README.md).

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

-- The queue and the history in one table: one row per attempt.
--
-- Storage is tuned for churn: every row is inserted, updated two or three times and then deleted by the
-- pruner. fillfactor 80 leaves room on each page for HOT updates (none of the updated columns is in an
-- index except status, whose partial indexes are small), and autovacuum runs on 1% dead rows instead of
-- the default 20%, so a busy queue never waits for a huge table-wide vacuum. Its autovacuum runs
-- without the cost delay, so that one pass keeps up with a busy queue instead of holding the table (and
-- keeping the maintenance leader's vacuum out) for minutes.
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
    idempotency_key  text        not null default pgtide.uuid_v7()::text,
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
    concurrency_key  text,
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
        status <> 'running' or (worker_id is not null and lease_until is not null)),
    constraint executions_concurrency_key_shape check (concurrency_key <> '' and length(concurrency_key) <= 200)
) with (
    fillfactor = 80,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);

comment on table pgtide.executions is
    'One row per attempt: the queue (scheduled, queued, running) and the history (succeeded, failed, '
    'dead, cancelled) in one table. Rows carry their own retry policy.';
comment on column pgtide.executions.id is 'Identity: the execution (job) id.';
comment on column pgtide.executions.task_id is 'The task that fired it; NULL for ad-hoc jobs and after the task was deleted.';
comment on column pgtide.executions.task_name is 'The task''s name at fire time; survives the task''s deletion.';
comment on column pgtide.executions.queue is 'Queue; workers claim from the queues they serve.';
comment on column pgtide.executions.handler is 'Handler name, resolved on the worker host.';
comment on column pgtide.executions.payload is 'JSON input of the handler.';
comment on column pgtide.executions.priority is 'Lower runs first among due rows of a queue.';
comment on column pgtide.executions.status is 'scheduled, queued, running, succeeded, failed (a retry row exists), dead (the DLQ) or cancelled.';
comment on column pgtide.executions.attempt is 'Attempt number, 1 for the first.';
comment on column pgtide.executions.max_attempts is 'Attempts allowed, counting the first.';
comment on column pgtide.executions.retry_strategy is 'fixed or exponential; see pgtide.retry_delay.';
comment on column pgtide.executions.retry_base is 'Base delay between attempts.';
comment on column pgtide.executions.retry_max is 'Longest delay between attempts.';
comment on column pgtide.executions.timeout is 'How long this attempt may run.';
comment on column pgtide.executions.idempotency_key is 'Unique key that stops duplicates: task:<id>:<slot>, the caller''s key, <key>#<n> for retries, <key>:requeued for DLQ requeues.';
comment on column pgtide.executions.retry_of is 'The attempt this row retries (or the dead row it requeues).';
comment on column pgtide.executions.scheduled_for is 'The cron or interval slot this execution fulfils; NULL for ad-hoc and manual runs.';
comment on column pgtide.executions.visible_at is 'When the row becomes due; pickup latency is started_at - visible_at.';
comment on column pgtide.executions.worker_id is 'The worker that claimed it (host:pid:random).';
comment on column pgtide.executions.started_at is 'When it was claimed.';
comment on column pgtide.executions.lease_until is 'While running: the claim is valid until then; heartbeats extend it, the rescuer takes it back after.';
comment on column pgtide.executions.finished_at is 'When the attempt ended.';
comment on column pgtide.executions.error is 'Why the attempt failed, was rescued, or was cancelled.';
comment on column pgtide.executions.result is 'JSON result of a successful handler.';
comment on column pgtide.executions.created_at is 'When the row was inserted.';
comment on column pgtide.executions.concurrency_key is 'The tenant (or any group) whose jobs share a key limit; NULL for none. Copied from the task and into retries.';

-- Claim: only due rows are in this index, so a claim costs the same with a million scheduled or finished
-- rows beside them.
create index executions_claim_idx on pgtide.executions (queue, priority, visible_at, id)
    where status = 'queued';
-- Fair claims (a queue with a key limit or a per-key rate) walk the distinct keys of the queue's due
-- rows, one index probe per key, and take each key's head in its own order; jobs without a key are
-- one group (''). It holds due rows only, like the claim index.
create index executions_key_claim_idx on pgtide.executions
    (queue, (coalesce(concurrency_key, '')), priority, visible_at, id)
    where status = 'queued';
-- Key caps count a key's running rows. Rows without a key stay out, so a queue that uses no keys
-- pays nothing for it on every claim.
create index executions_key_running_idx on pgtide.executions (queue, concurrency_key)
    where status = 'running' and concurrency_key is not null;
-- Promoter: pending delayed jobs and retries, earliest first.
create index executions_scheduled_idx on pgtide.executions (visible_at) where status = 'scheduled';
-- Rescuer: running rows by lease expiry.
create index executions_lease_idx on pgtide.executions (lease_until) where status = 'running';
-- History per task and the pruner's scans.
create index executions_task_idx on pgtide.executions (task_id, id) where task_id is not null;
create index executions_finished_idx on pgtide.executions (finished_at)
    where status in ('succeeded', 'failed', 'dead', 'cancelled');
-- Walking a retry chain (pgtide jobs show) from its first attempt down.
create index executions_retry_of_idx on pgtide.executions (retry_of) where retry_of is not null;

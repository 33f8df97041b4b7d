-- The baseline: pgtide's types and tables as they stood when the pre-release migrations 1 to 7 were
-- squashed into one. A database those migrations built is taken to this version without running it
-- (see src/migrate.rs), since it already has all of this.
--
-- Frozen: refinery refuses a database whose applied migrations changed, so this file is never edited.
-- A later change to a table is a new migration beside it, made together with the same change to
-- sql/schema/tables/, the tables' current definition. Functions, triggers, views and grants are not
-- here: `pgtide migrate` applies them from sql/schema/ after the migrations.

-- The idempotency key's column default calls this function, so it exists before the table.
create function pgtide.uuid_v7() returns uuid language sql volatile parallel safe as $$
    -- The version nibble is the high half of byte 6: 0100 (4) becomes 0111 (7) by setting bits 52
    -- and 53 (set_bit counts from the low bit of byte 0).
    select encode(
               set_bit(set_bit(
                   overlay(uuid_send(gen_random_uuid())
                           placing substring(int8send(
                               floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
                           from 1 for 6),
                   52, 1), 53, 1),
               'hex')::uuid
$$;

comment on function pgtide.uuid_v7() is
    'A time-ordered UUID (version 7): the default idempotency key, so keys fill the unique index in order.';

-- Tasks: the definitions the scheduler fires.

-- What to run and when. The scheduler fires them into pgtide.executions. Columns that the scheduler
-- must parse (cron, timezone) are deliberately not CHECKed here beyond their shape: a row that
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

comment on table pgtide.tasks is
    'Task definitions: what to run (handler, payload) and when (exactly one of cron, every, run_at). '
    'The scheduler fires them into pgtide.executions. Change them with pgtide.create_task, pause_task, '
    'resume_task, trigger_task and delete_task, or with plain SQL (audited either way).';
comment on column pgtide.tasks.id is 'Identity; executions.task_id points here.';
comment on column pgtide.tasks.name is 'Unique name; the admin functions address tasks by it.';
comment on column pgtide.tasks.handler is 'Handler name, resolved on the worker host (pgtide.toml or a registered Rust handler).';
comment on column pgtide.tasks.payload is 'JSON given to every execution of the task (at most 1 MiB).';
comment on column pgtide.tasks.cron is 'Crontab schedule: 5 fields, 6 with leading seconds, or an @alias. Evaluated in timezone.';
comment on column pgtide.tasks.every is 'Fixed-interval schedule, anchored to the previous slot so it does not drift.';
comment on column pgtide.tasks.run_at is 'One-shot schedule: fire once at this time, then become finished.';
comment on column pgtide.tasks.timezone is 'IANA time zone the cron schedule is read in (DST-aware).';
comment on column pgtide.tasks.queue is 'Queue the executions go to.';
comment on column pgtide.tasks.priority is 'Lower runs first among due jobs of a queue.';
comment on column pgtide.tasks.max_attempts is 'Attempts per fire, counting the first.';
comment on column pgtide.tasks.retry_strategy is 'fixed (retry_base every time) or exponential (retry_base * 2^(n-1), capped at retry_max).';
comment on column pgtide.tasks.retry_base is 'Base delay between attempts.';
comment on column pgtide.tasks.retry_max is 'Longest delay between attempts (exponential).';
comment on column pgtide.tasks.timeout is 'How long one attempt may run before it is failed.';
comment on column pgtide.tasks.overlap is 'allow: fire even if the previous fire is still pending; skip: skip the slot while one is.';
comment on column pgtide.tasks.misfire is 'What to do with slots missed by more than the misfire threshold: fire_once, skip or catch_up.';
comment on column pgtide.tasks.status is 'active, paused, finished (a one-shot that fired) or invalid (see last_error).';
comment on column pgtide.tasks.next_run_at is 'The next slot, maintained by the scheduler; NULL while it is being (re)planned.';
comment on column pgtide.tasks.last_run_at is 'The most recent slot fired.';
comment on column pgtide.tasks.last_error is 'Why the task is invalid (a schedule that does not parse).';
comment on column pgtide.tasks.tags is 'Free-form labels for operators.';
comment on column pgtide.tasks.created_at is 'When the task was created.';
comment on column pgtide.tasks.updated_at is 'When the task was last changed.';

create index tasks_due_idx on pgtide.tasks (next_run_at) where status = 'active';

-- Executions: the queue and the history in one table, one row per attempt.

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
-- Walking a retry chain (pgtide jobs show) from its first attempt down.
create index executions_retry_of_idx on pgtide.executions (retry_of) where retry_of is not null;

-- Queue settings. A queue exists implicitly as soon as a job names it; a row here only records
-- settings (pause, concurrency limit).

create table pgtide.queues (
    name               text        primary key,
    paused             boolean     not null default false,
    concurrency_limit  int,
    paused_at          timestamptz,
    updated_at         timestamptz not null default now(),
    constraint queues_name_not_empty check (name <> ''),
    constraint queues_limit_positive check (concurrency_limit is null or concurrency_limit >= 1)
);

comment on table pgtide.queues is
    'Queue settings. A queue exists as soon as a job names it; a row here pauses it or limits it. '
    'Change with pgtide.pause_queue, resume_queue and set_queue_limit.';
comment on column pgtide.queues.name is 'Queue name, as in executions.queue.';
comment on column pgtide.queues.paused is 'Workers claim nothing from a paused queue; running jobs finish.';
comment on column pgtide.queues.concurrency_limit is 'Most running rows of this queue across all workers together; NULL for no limit.';
comment on column pgtide.queues.paused_at is 'When the queue was paused.';
comment on column pgtide.queues.updated_at is 'When the settings last changed.';

-- The runtime's own rows: the maintenance leader's lease and the live worker processes.

-- The maintenance leader's lease. A row, not a session advisory lock: advisory locks are tied to a
-- server session and silently break behind transaction poolers such as PgBouncer.
create table pgtide.leader (
    name         text primary key,
    holder       text        not null,
    acquired_at  timestamptz not null default now(),
    expires_at   timestamptz not null
);

comment on table pgtide.leader is
    'The maintenance leader''s lease (one row per role). A row, not an advisory lock, so it works behind '
    'transaction poolers.';
comment on column pgtide.leader.name is 'What is led (''maintenance'').';
comment on column pgtide.leader.holder is 'Id of the process holding the lease.';
comment on column pgtide.leader.acquired_at is 'When the current holder took the lease.';
comment on column pgtide.leader.expires_at is 'The lease ends then unless renewed; another process may take it after.';

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

comment on table pgtide.workers is
    'Live worker processes, refreshed by heartbeats. Informational: leases on executions decide correctness.';
comment on column pgtide.workers.id is 'Worker id, as in executions.worker_id.';
comment on column pgtide.workers.host is 'Host name.';
comment on column pgtide.workers.pid is 'Process id on that host.';
comment on column pgtide.workers.queues is 'Queues it claims from.';
comment on column pgtide.workers.concurrency is 'Jobs it runs at once.';
comment on column pgtide.workers.started_at is 'When it registered.';
comment on column pgtide.workers.last_seen_at is 'Its latest heartbeat.';

-- The audit log, and the roles given a recipe with pgtide.grant.

create table pgtide.audit_log (
    id                bigint      generated always as identity primary key,
    at                timestamptz not null default now(),
    actor             text        not null default current_user,
    surface           text        not null,
    application_name  text,
    action            text        not null,
    object_type       text        not null,
    object_id         text        not null,
    old               jsonb,
    new               jsonb
);

comment on table pgtide.audit_log is
    'Who changed what: every task create, change, pause, resume, trigger and delete, queue pause and '
    'limit change, retry_dead and cancel. Written by triggers, so raw SQL is audited too.';
comment on column pgtide.audit_log.id is 'Identity, in the order of the changes.';
comment on column pgtide.audit_log.at is 'Transaction time of the change.';
comment on column pgtide.audit_log.actor is 'current_user that made the change.';
comment on column pgtide.audit_log.surface is 'sql, cli, http, console or runtime (from application_name).';
comment on column pgtide.audit_log.application_name is 'The client''s application_name.';
comment on column pgtide.audit_log.action is 'task.create|update|pause|resume|trigger|delete|finish|invalidate, queue.pause|resume|limit|delete, execution.retry_dead|cancel.';
comment on column pgtide.audit_log.object_type is 'task, queue or execution.';
comment on column pgtide.audit_log.object_id is 'Task name, queue name or execution id.';
comment on column pgtide.audit_log.old is 'The changed fields before (the whole row for a delete).';
comment on column pgtide.audit_log.new is 'The changed fields after (the whole row for a create).';

create index audit_log_object_idx on pgtide.audit_log (object_type, object_id, id);
create index audit_log_at_idx on pgtide.audit_log (at);

create table pgtide.grants (
    role_name   text        primary key,
    role_kind   text        not null,
    granted_at  timestamptz not null default now(),
    granted_by  text        not null default current_user,
    constraint grants_role_kind_known check (role_kind in ('enqueuer', 'operator', 'worker'))
);

comment on table pgtide.grants is 'Roles given a recipe with pgtide.grant, so upgrades can re-apply them.';
comment on column pgtide.grants.role_name is 'The role.';
comment on column pgtide.grants.role_kind is 'enqueuer, operator or worker.';
comment on column pgtide.grants.granted_at is 'When the recipe was last applied.';
comment on column pgtide.grants.granted_by is 'Who applied it.';

-- Alerting. The leader evaluates the alert rules of pgtide.toml and records each change of state here: a
-- 'firing' event when a rule starts to hold for a subject (a queue, a handler, a task), a 'resolved'
-- event when it stops. Webhook notifications are rows of pgtide.alert_deliveries, written in the same
-- transaction as their event, so a crash between the event and the HTTP call loses no notification,
-- and a retry is a row update, not a timer in memory.

create table pgtide.alert_events (
    id          bigint      generated always as identity primary key,
    rule        text        not null,
    kind        text        not null,
    subject     text        not null,
    state       text        not null check (state in ('firing', 'resolved')),
    value       double precision,
    message     text        not null,
    at          timestamptz not null default now(),
    -- For a resolved event: the firing event it ends.
    fired_id    bigint      references pgtide.alert_events (id) on delete set null
);

comment on table pgtide.alert_events is
    'Alert state changes recorded by the maintenance leader: one firing and one resolved event per episode.';
comment on column pgtide.alert_events.id is 'Identity; ordered by time of recording.';
comment on column pgtide.alert_events.at is 'When the leader recorded the change (database clock).';
comment on column pgtide.alert_events.rule is 'The rule''s name in pgtide.toml ([[alerts.rules]] name).';
comment on column pgtide.alert_events.kind is
    'failure_rate, oldest_due, dead_letters, overdue_running, no_worker or task_invalid.';
comment on column pgtide.alert_events.subject is 'What the rule holds for: a queue, a handler or a task name.';
comment on column pgtide.alert_events.state is 'firing or resolved.';
comment on column pgtide.alert_events.value is 'The measured value when the event was recorded (rate in %, age in s, count).';
comment on column pgtide.alert_events.message is 'One line for people: what holds, how much, against which threshold.';
comment on column pgtide.alert_events.fired_id is 'For a resolved event, the firing event it ends.';

create index alert_events_subject_idx on pgtide.alert_events (rule, subject, id);
create index alert_events_at_idx on pgtide.alert_events (at);

create table pgtide.alert_deliveries (
    id               bigint      generated always as identity primary key,
    event_id         bigint      not null references pgtide.alert_events (id) on delete cascade,
    webhook          text        not null,
    status           text        not null default 'pending'
                                 check (status in ('pending', 'delivered', 'failed')),
    attempts         int         not null default 0,
    next_attempt_at  timestamptz not null default now(),
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz not null default now()
);

comment on table pgtide.alert_deliveries is
    'Webhook notifications of alert events, with their retries; the leader sends the pending ones.';
comment on column pgtide.alert_deliveries.id is 'Identity.';
comment on column pgtide.alert_deliveries.event_id is 'The alert event to send.';
comment on column pgtide.alert_deliveries.attempts is 'HTTP attempts made so far.';
comment on column pgtide.alert_deliveries.next_attempt_at is 'When the next attempt is due (backoff after a failure).';
comment on column pgtide.alert_deliveries.last_error is 'Why the latest attempt failed.';
comment on column pgtide.alert_deliveries.delivered_at is 'When a 2xx answer arrived.';
comment on column pgtide.alert_deliveries.created_at is 'When the event was recorded.';
comment on column pgtide.alert_deliveries.webhook is 'The webhook''s name in pgtide.toml ([[alerts.webhooks]] name).';
comment on column pgtide.alert_deliveries.status is 'pending (to send or retry), delivered, or failed (attempts exhausted).';

create index alert_deliveries_pending_idx on pgtide.alert_deliveries (next_attempt_at)
    where status = 'pending';
create index alert_deliveries_event_idx on pgtide.alert_deliveries (event_id);

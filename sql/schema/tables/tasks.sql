-- Tasks: the definitions the scheduler fires.
--
-- The current shape of these tables. `pgtide migrate` does not run this file: the tables are made by
-- the migrations in sql/migrations/ (a baseline, then deltas), and a test checks that they build
-- exactly this. A change here is a change there too (see sql/schema/README.md).

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
    concurrency_key text,
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
    constraint tasks_status_known check (status in ('active', 'paused', 'finished', 'invalid')),
    constraint tasks_concurrency_key_shape check (concurrency_key <> '' and length(concurrency_key) <= 200)
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
comment on column pgtide.tasks.concurrency_key is 'Concurrency key of every execution it fires; NULL for none.';

create index tasks_due_idx on pgtide.tasks (next_run_at) where status = 'active';

-- Queue settings. A queue exists implicitly as soon as a job names it; a row here only records
-- settings (pause, concurrency limit).
--
-- The current shape of these tables. `pgtide migrate` does not run this file: the tables are made by
-- the migrations in sql/migrations/ (a baseline, then deltas), and a test checks that they build
-- exactly this. A change here is a change there too (see sql/schema/README.md).

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

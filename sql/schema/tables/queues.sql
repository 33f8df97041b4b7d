-- Queue settings. A queue exists implicitly as soon as a job names it; a row here only records
-- settings (pause, concurrency limits, a rate limit). Beside it, the per-key overrides and the two
-- runtime tables that fair and rate-limited claims keep.
--
-- The current shape of these tables. `pgtide migrate` does not run this file: the tables are made by
-- the migrations in sql/migrations/ (a baseline, then deltas), and a test checks that they build
-- exactly this. A change here is a change there too (see sql/schema/README.md).

create table pgtide.queues (
    name                   text        primary key,
    paused                 boolean     not null default false,
    concurrency_limit      int,
    paused_at              timestamptz,
    updated_at             timestamptz not null default now(),
    key_concurrency_limit  int,
    rate_max_starts        int,
    rate_per               interval,
    rate_per_key           boolean     not null default false,
    constraint queues_name_not_empty check (name <> ''),
    constraint queues_limit_positive check (concurrency_limit is null or concurrency_limit >= 1),
    constraint queues_key_limit_positive check (key_concurrency_limit is null or key_concurrency_limit >= 1),
    constraint queues_rate_positive check (
        (rate_max_starts is null and rate_per is null)
        or (rate_max_starts >= 1 and rate_per > interval '0'))
);

comment on table pgtide.queues is
    'Queue settings. A queue exists as soon as a job names it; a row here pauses it or limits it. '
    'Change with pgtide.pause_queue, resume_queue and set_queue_limit.';
comment on column pgtide.queues.name is 'Queue name, as in executions.queue.';
comment on column pgtide.queues.paused is 'Workers claim nothing from a paused queue; running jobs finish.';
comment on column pgtide.queues.concurrency_limit is 'Most running rows of this queue across all workers together; NULL for no limit.';
comment on column pgtide.queues.paused_at is 'When the queue was paused.';
comment on column pgtide.queues.updated_at is 'When the settings last changed.';
comment on column pgtide.queues.key_concurrency_limit is 'Most running rows of any one concurrency key of this queue across all workers; NULL for none. pgtide.key_limits overrides it per key.';
comment on column pgtide.queues.rate_max_starts is 'Most starts (claims) in any window of rate_per; NULL for no rate limit.';
comment on column pgtide.queues.rate_per is 'The rate limit''s window.';
comment on column pgtide.queues.rate_per_key is 'Whether the rate limit applies to each concurrency key instead of the whole queue.';

-- A key's own cap, for the tenant that pays for more (or must get less) than the queue's default.
create table pgtide.key_limits (
    queue              text        not null,
    concurrency_key    text        not null,
    concurrency_limit  int         not null,
    updated_at         timestamptz not null default now(),
    primary key (queue, concurrency_key),
    constraint key_limits_limit_positive check (concurrency_limit >= 1)
);

comment on table pgtide.key_limits is 'Per-key overrides of a queue''s key_concurrency_limit. Change with pgtide.set_key_limit.';
comment on column pgtide.key_limits.queue is 'Queue name.';
comment on column pgtide.key_limits.concurrency_key is 'The key the override applies to.';
comment on column pgtide.key_limits.concurrency_limit is 'Most running rows of this key in this queue across all workers.';
comment on column pgtide.key_limits.updated_at is 'When the override last changed.';

-- Round-robin needs one fact between claims: where the last one stopped. Claims of such a queue are
-- serialized (they lock its pgtide.queues row), so the row is read and written by one claim at a time.
create table pgtide.key_cursors (
    queue     text primary key,
    last_key  text not null
);

comment on table pgtide.key_cursors is 'Runtime: per queue dispatched by key, the key the last claim served last; the next claim starts after it (round-robin).';
comment on column pgtide.key_cursors.queue is 'Queue name.';
comment on column pgtide.key_cursors.last_key is 'The last key served ('''' for jobs without a key).';

-- A sliding log: a claim may start as many jobs as the window has room for, and the oldest start in
-- a full window says when the next one may come. Only the latest rate_max_starts starts can matter,
-- so that is all a row keeps.
create table pgtide.rate_windows (
    queue            text          not null,
    concurrency_key  text          not null,
    starts           timestamptz[] not null default '{}',
    primary key (queue, concurrency_key)
);

comment on table pgtide.rate_windows is 'Runtime: the latest starts of a rate-limited queue (concurrency_key = '''') or of each of its keys (per_key), at most rate_max_starts of them: a sliding log.';
comment on column pgtide.rate_windows.queue is 'Queue name.';
comment on column pgtide.rate_windows.concurrency_key is 'The key ('''' for the whole queue, or for jobs without a key when per_key).';
comment on column pgtide.rate_windows.starts is 'Start times, oldest first.';

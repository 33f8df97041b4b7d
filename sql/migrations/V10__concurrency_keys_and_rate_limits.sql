-- Tenants in a shared queue: a concurrency key on jobs and tasks, per-key caps with fair dispatch,
-- and rate limits on starts. See sql/schema/tables/executions.sql and queues.sql for the why of
-- each object; the functions that use them are in sql/schema/functions/fair_claim.sql.

alter table pgtide.executions
    add column concurrency_key text,
    add constraint executions_concurrency_key_shape
        check (concurrency_key <> '' and length(concurrency_key) <= 200);
comment on column pgtide.executions.concurrency_key is 'The tenant (or any group) whose jobs share a key limit; NULL for none. Copied from the task and into retries.';

-- Fair claims walk the distinct keys of a queue's due rows; jobs without a key are one group ('').
create index executions_key_claim_idx on pgtide.executions
    (queue, (coalesce(concurrency_key, '')), priority, visible_at, id)
    where status = 'queued';
-- Key caps count a key's running rows.
create index executions_key_running_idx on pgtide.executions (queue, concurrency_key)
    where status = 'running' and concurrency_key is not null;

alter table pgtide.tasks
    add column concurrency_key text,
    add constraint tasks_concurrency_key_shape
        check (concurrency_key <> '' and length(concurrency_key) <= 200);
comment on column pgtide.tasks.concurrency_key is 'Concurrency key of every execution it fires; NULL for none.';

alter table pgtide.queues
    add column key_concurrency_limit int,
    add column rate_max_starts int,
    add column rate_per interval,
    add column rate_per_key boolean not null default false,
    add constraint queues_key_limit_positive check (key_concurrency_limit is null or key_concurrency_limit >= 1),
    add constraint queues_rate_positive check (
        (rate_max_starts is null and rate_per is null)
        or (rate_max_starts >= 1 and rate_per > interval '0'));
comment on column pgtide.queues.key_concurrency_limit is 'Most running rows of any one concurrency key of this queue across all workers; NULL for none. pgtide.key_limits overrides it per key.';
comment on column pgtide.queues.rate_max_starts is 'Most starts (claims) in any window of rate_per; NULL for no rate limit.';
comment on column pgtide.queues.rate_per is 'The rate limit''s window.';
comment on column pgtide.queues.rate_per_key is 'Whether the rate limit applies to each concurrency key instead of the whole queue.';

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

create table pgtide.key_cursors (
    queue     text primary key,
    last_key  text not null
);
comment on table pgtide.key_cursors is 'Runtime: per queue dispatched by key, the key the last claim served last; the next claim starts after it (round-robin).';
comment on column pgtide.key_cursors.queue is 'Queue name.';
comment on column pgtide.key_cursors.last_key is 'The last key served ('''' for jobs without a key).';

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

-- The functions that take a concurrency key now: sql/schema/functions/ creates them again.
drop function if exists pgtide.enqueue(text, jsonb, text, timestamptz, text, int, int, text, interval, interval, interval);
drop function if exists pgtide.create_task(text, text, jsonb, text, interval, timestamptz, text, text, int, int, text,
                                 interval, interval, interval, text, text, text[]);

-- The runtime's own rows: the maintenance leader's lease and the live worker processes.
--
-- The current shape of these tables. `pgtide migrate` does not run this file: the tables are made by
-- the migrations in sql/migrations/ (a baseline, then deltas), and a test checks that they build
-- exactly this. A change here is a change there too (see sql/schema/README.md).

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

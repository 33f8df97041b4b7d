-- The worker's fast path: one statement per claim and one per completion flush, and NOTIFY that does
-- not serialize busy enqueuers. Measured with `pgtide bench`; see docs/performance.md.

-- ---------------------------------------------------------------------------------------------------
-- Claim. One call does what used to take BEGIN, the limited-queue lock, the claim and COMMIT: every
-- statement costs the server a parse-bind-execute cycle and a snapshot, and at thousands of claims a
-- second those fixed costs were most of the work.
-- ---------------------------------------------------------------------------------------------------

-- The general claim: any number of queues, paused ones skipped, concurrency limits honoured. Locks the
-- rows it returns (FOR UPDATE SKIP LOCKED) for the caller's transaction; pgtide.claim updates them.
create function pgtide.claim_ids(queues text[], max_rows int) returns bigint[]
language plpgsql volatile as $$
#variable_conflict use_column
declare
    ids bigint[];
begin
    -- Serialize claims on this caller's limited queues (in name order, so two workers never deadlock).
    -- In READ COMMITTED every statement of a volatile function takes a new snapshot, so the claim
    -- below counts every row another worker claimed and committed before this lock was granted:
    -- concurrent claims cannot together overshoot a queue's concurrency_limit.
    perform 1
       from pgtide.queues q
      where q.name = any (claim_ids.queues)
        and q.concurrency_limit is not null
        and not q.paused
      order by q.name
        for update;
    -- Paused queues are skipped. One lateral probe per queue walks the partial claim index (queue,
    -- priority, visible_at, id), so the cost depends only on how many rows are claimed, not on how
    -- many scheduled or finished rows exist. SKIP LOCKED lets any number of workers claim at once.
    with open_queues as (
        select q.name,
               case when s.concurrency_limit is null then claim_ids.max_rows::bigint
                    else least(claim_ids.max_rows::bigint, s.concurrency_limit - (
                            select count(*) from pgtide.executions r
                             where r.status = 'running' and r.queue = q.name)) end as room
          from unnest(claim_ids.queues) as q(name)
          left join pgtide.queues s on s.name = q.name
         where s.paused is not true
    ), due as (
        select c.id, c.priority, c.visible_at
          from open_queues q
         cross join lateral (
                select e.id, e.priority, e.visible_at
                  from pgtide.executions e
                 where e.status = 'queued'
                   and e.queue = q.name
                 order by e.priority, e.visible_at, e.id
                 limit greatest(q.room, 0)
                   for update skip locked
               ) c
         order by c.priority, c.visible_at, c.id
         limit claim_ids.max_rows
    )
    select array_agg(due.id) into ids from due;
    return ids;
end $$;

comment on function pgtide.claim_ids(text[], int) is
    'Internal (pgtide.claim''s general path): locks and returns the ids of up to max_rows due rows of '
    'queues, skipping paused queues and honouring concurrency limits.';

create function pgtide.claim(queues text[], max_rows int, worker text, lease_secs float8,
                             async_commit boolean default false)
returns table (id bigint, handler text, queue text, payload jsonb, attempt int, max_attempts int,
               idempotency_key text, task_id bigint, timeout_secs float8, pickup_secs float8)
language plpgsql volatile as $$
#variable_conflict use_column
declare
    ids bigint[];
begin
    if claim.async_commit then
        -- A claim is only a promise to run: lost in a server crash, its row is simply queued again.
        -- Completions commit synchronously, and WAL is flushed in order, so an acknowledged completion
        -- implies a durable claim.
        perform set_config('synchronous_commit', 'off', true);
    end if;
    -- The same shape thousands of times a second: plan it once per connection.
    perform set_config('plan_cache_mode', 'force_generic_plan', true);
    -- The common case: one queue with no settings row (never paused, no limit) walks the partial
    -- claim index from its head, with no lock and no per-queue planning.
    if cardinality(claim.queues) = 1
       and not exists (select 1 from pgtide.queues s where s.name = claim.queues[1]) then
        ids := array(
            select d.id
              from pgtide.executions d
             where d.status = 'queued'
               and d.queue = claim.queues[1]
             order by d.priority, d.visible_at, d.id
             limit claim.max_rows
               for update skip locked);
    else
        ids := pgtide.claim_ids(claim.queues, claim.max_rows);
    end if;
    if coalesce(cardinality(ids), 0) = 0 then
        return;
    end if;
    -- The ids are updated by primary key: with a generic plan the planner cannot know how many rows
    -- the LIMIT lets through, and a join could be planned as a scan of the whole table.
    return query
    with claimed as (
        update pgtide.executions e
           set status = 'running',
               worker_id = claim.worker,
               started_at = now(),
               lease_until = now() + make_interval(secs => claim.lease_secs)
         where e.id = any (ids)
        returning e.id, e.handler, e.queue, e.payload, e.attempt, e.max_attempts, e.idempotency_key,
                  e.task_id, extract(epoch from e.timeout)::float8 as timeout_secs,
                  extract(epoch from e.started_at - e.visible_at)::float8 as pickup_secs
    )
    select * from claimed;
end $$;

comment on function pgtide.claim(text[], int, text, float8, boolean) is
    'Internal (the worker''s claim): takes up to max_rows due rows of queues for worker, leased for '
    'lease_secs seconds, honouring paused queues and concurrency limits. async_commit = true makes the '
    'surrounding transaction commit without waiting for its WAL flush; call it in a transaction of '
    'its own then.';

-- ---------------------------------------------------------------------------------------------------
-- Completion. One call records a whole flush: successes, and failures with their retries or dead
-- transitions (pgtide.fail_attempts). All fenced on (id, attempt, status = running, worker).
-- ---------------------------------------------------------------------------------------------------

create function pgtide.complete(worker text, ok_ids bigint[], ok_attempts int[], ok_results jsonb[],
                                fail_ids bigint[], fail_attempts int[], fail_errors text[],
                                fail_permanent boolean[])
returns table (id bigint, status text, retry_id bigint)
language plpgsql volatile as $$
#variable_conflict use_column
begin
    perform set_config('plan_cache_mode', 'force_generic_plan', true);
    if cardinality(complete.ok_ids) > 0 then
        -- The status is compared as text on purpose: it keeps the planner from reading every running
        -- row through the lease index, so each row is found by its primary key whatever the
        -- statistics say.
        return query
        with done as (
            update pgtide.executions e
               set status = 'succeeded',
                   finished_at = now(),
                   lease_until = null,
                   result = c.result
              from unnest(complete.ok_ids, complete.ok_attempts, complete.ok_results)
                   as c(id, attempt, result)
             where e.id = c.id
               and e.attempt = c.attempt
               and e.status::text = 'running'
               and e.worker_id = complete.worker
            returning e.id
        )
        select done.id, 'succeeded'::text, null::bigint from done;
    end if;
    if cardinality(complete.fail_ids) > 0 then
        return query
        select f.id, f.status::text, f.retry_id
          from pgtide.fail_attempts(complete.fail_ids, complete.fail_attempts, complete.fail_errors,
                                    complete.fail_permanent, complete.worker) f;
    end if;
end $$;

comment on function pgtide.complete(text, bigint[], int[], jsonb[], bigint[], int[], text[], boolean[]) is
    'Internal (the worker''s completion flush): marks ok_ids succeeded with their results and records '
    'fail_ids as failed (with a scheduled retry) or dead, fenced on attempt, status and worker. Returns '
    'the rows recorded; a row missing from the answer was no longer this worker''s.';

-- ---------------------------------------------------------------------------------------------------
-- NOTIFY, debounced. A transaction that notifies holds a database-wide lock from its pre-commit until
-- its commit record is flushed, so notifying enqueuers commit one after another instead of sharing
-- WAL flushes. A notification only matters to a worker that sleeps; a queue whose oldest due row has
-- waited more than 50 ms has no sleeping worker (or none at all, or it is paused, and resuming
-- notifies), so enqueues into it skip the NOTIFY and the workers claim the new rows on their next
-- claim anyway.
-- ---------------------------------------------------------------------------------------------------

-- SECURITY DEFINER: the head check reads columns (priority) that an enqueuer role may not select.
create or replace function pgtide.notify_jobs() returns trigger language plpgsql
security definer set search_path = pg_catalog, pgtide as $$
begin
    perform pg_notify('pgtide_jobs', q.queue)
       from (select distinct n.queue from new_rows n where n.status = 'queued') q
      where coalesce((select h.visible_at
                        from pgtide.executions h
                       where h.status = 'queued' and h.queue = q.queue
                       order by h.priority, h.visible_at, h.id
                       limit 1) >= now() - interval '50 milliseconds', true);
    return null;
end $$;

comment on function pgtide.notify_jobs() is
    'Trigger: NOTIFY pgtide_jobs with the queue name when due rows are inserted, unless the queue''s '
    'head has waited more than 50 ms already (its workers are busy and need no wake-up).';

-- ---------------------------------------------------------------------------------------------------
-- Generated idempotency keys are time-ordered (UUID version 7): 48 bits of Unix milliseconds, then the
-- random bits of a version-4 UUID. A random key lands on a random leaf of the unique index, so a bulk
-- enqueue touched (and logged) a different index page for nearly every row; time-ordered keys go to
-- the right-hand edge of the index, like the primary key. Keys stay opaque, unique text.
-- ---------------------------------------------------------------------------------------------------

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

-- Every role may call it: it is the column default of an INSERT an enqueuer role may run.
grant execute on function pgtide.uuid_v7() to public;

alter table pgtide.executions alter column idempotency_key set default pgtide.uuid_v7()::text;

-- ---------------------------------------------------------------------------------------------------
-- The worker role recipe gains the two functions; roles that already have it get them now.
-- ---------------------------------------------------------------------------------------------------

create or replace function pgtide.grant(role_kind text, role_name text) returns text
language plpgsql volatile as $$
#variable_conflict use_variable
declare
    kind text := regexp_replace(lower(btrim(role_kind)), '^pgtide_', '');
    r text := role_name;
    enqueue_fns text := 'pgtide.enqueue(text, jsonb, text, timestamptz, text, int, int, text, interval, '
        'interval, interval), pgtide.check_policy(text, text, text, int, int, text, interval, interval, '
        'interval), pgtide.check_payload(text, jsonb), pgtide.invalid_input(text, text, text, text)';
begin
    if kind is null or kind not in ('enqueuer', 'operator', 'worker') then
        perform pgtide.invalid_input('pgtide.grant', 'role_kind', role_kind,
            '''enqueuer'', ''operator'' or ''worker''');
    end if;
    if r is null or not exists (select 1 from pg_roles where rolname = r) then
        perform pgtide.invalid_input('pgtide.grant', 'role_name', r,
            'an existing role (CREATE ROLE it first)');
    end if;
    execute format('grant usage on schema pgtide to %I', r);
    if kind = 'enqueuer' then
        -- Enqueue through the function or a plain INSERT; see ids, keys and statuses of jobs, but
        -- never payloads, results or errors (they may hold other teams' data).
        execute format('grant execute on function %s to %I', enqueue_fns, r);
        execute format('grant insert (handler, payload, queue, priority, status, max_attempts, '
            'retry_strategy, retry_base, retry_max, timeout, idempotency_key, visible_at) '
            'on pgtide.executions to %I', r);
        execute format('grant select (id, idempotency_key, queue, handler, status, attempt, '
            'max_attempts, visible_at, started_at, finished_at, created_at) on pgtide.executions to %I', r);
    elsif kind = 'operator' then
        execute format('grant execute on all functions in schema pgtide to %I', r);
        execute format('revoke execute on function pgtide.grant(text, text) from %I', r);
        execute format('grant select, insert, update, delete on pgtide.tasks, pgtide.executions, '
            'pgtide.queues to %I', r);
        execute format('grant select on all tables in schema pgtide to %I', r);
        execute format('grant insert on pgtide.audit_log to %I', r);
    else
        -- The runtime: claim, complete, schedule, maintain. Schema changes stay with the owner
        -- (`pgtide migrate`); a worker only checks that the schema is current.
        execute format('grant execute on function %s, pgtide.fail_attempts(bigint[], int[], text[], '
            'boolean[], text, boolean), pgtide.retry_delay(text, interval, interval, int), '
            'pgtide.retry_key(text, int), pgtide.slot_key(bigint, timestamptz), '
            'pgtide.prune(interval, pgtide.execution_status[], int), pgtide.audit_surface(), '
            'pgtide.audit(text, text, text, jsonb, jsonb), pgtide.jsonb_diff(jsonb, jsonb), '
            'pgtide.claim(text[], int, text, float8, boolean), pgtide.claim_ids(text[], int), '
            'pgtide.complete(text, bigint[], int[], jsonb[], bigint[], int[], text[], boolean[]) to %I',
            enqueue_fns, r);
        execute format('grant select, insert, update, delete on pgtide.executions, pgtide.leader, '
            'pgtide.workers to %I', r);
        execute format('grant select, update on pgtide.tasks to %I', r);
        execute format('grant select on pgtide.queues, pgtide.refinery_schema_history to %I', r);
        -- SELECT ... FOR UPDATE (claim_lock.sql serializes claims of a limited queue) needs UPDATE on
        -- some column; updated_at is the harmless one.
        execute format('grant update (updated_at) on pgtide.queues to %I', r);
        execute format('grant insert on pgtide.audit_log to %I', r);
    end if;
    insert into pgtide.grants (role_name, role_kind) values (r, kind)
    on conflict on constraint grants_pkey do update
       set role_kind = excluded.role_kind, granted_at = now(), granted_by = current_user;
    return kind;
end $$;

do $$
declare
    r text;
begin
    for r in select role_name from pgtide.grants where role_kind = 'worker' loop
        if exists (select 1 from pg_roles where rolname = r) then
            perform pgtide.grant('worker', r);
        end if;
    end loop;
end $$;

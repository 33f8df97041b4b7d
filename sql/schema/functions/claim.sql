-- The worker's fast path: one statement per claim and one per completion flush. Every statement costs
-- the server a parse-bind-execute cycle and a snapshot, and at thousands of claims a second those
-- fixed costs were most of the work, so each of these does in one call what would take several.
-- Measured with `pgtide bench`; see docs/performance.md.
--
-- Applied by `pgtide migrate` whenever this file changes (see sql/schema/README.md).

-- The general claim: any number of queues, paused ones skipped, concurrency and rate limits honoured.
-- Locks the rows it returns (FOR UPDATE SKIP LOCKED) for the caller's transaction; pgtide.claim
-- updates them. Queues dispatched by key (see fair_claim.sql) are claimed first, round-robin across
-- their keys; the rest of max_rows goes to the other queues in priority order.
create or replace function pgtide.claim_ids(queues text[], max_rows int) returns bigint[]
language plpgsql volatile as $$
#variable_conflict use_column
declare
    ids bigint[] := '{}';
    more bigint[];
    keyed text[];
    q text;
    budget int := claim_ids.max_rows;
begin
    -- Serialize claims on this caller's limited queues (in name order, so two workers never deadlock).
    -- In READ COMMITTED every statement of a volatile function takes a new snapshot, so the claim
    -- below counts every row another worker claimed and committed before this lock was granted:
    -- concurrent claims cannot together overshoot a queue's or a key's limit, or a rate.
    perform 1
       from pgtide.queues q
      where q.name = any (claim_ids.queues)
        and (q.concurrency_limit is not null or q.key_concurrency_limit is not null
             or q.rate_max_starts is not null
             or exists (select 1 from pgtide.key_limits kl where kl.queue = q.name))
        and not q.paused
      order by q.name
        for update;
    select array_agg(q.name order by q.name) filter (
               where q.key_concurrency_limit is not null or q.rate_per_key
                  or exists (select 1 from pgtide.key_limits kl where kl.queue = q.name))
      into keyed
      from pgtide.queues q
     where q.name = any (claim_ids.queues)
       and not q.paused;
    foreach q in array coalesce(keyed, '{}') loop
        exit when budget <= 0;
        more := pgtide.claim_keys(q, budget);
        ids := ids || more;
        budget := budget - cardinality(more);
    end loop;
    if budget <= 0 then
        return ids;
    end if;
    -- Paused queues are skipped. One lateral probe per queue walks the partial claim index (queue,
    -- priority, visible_at, id), so the cost depends only on how many rows are claimed, not on how
    -- many scheduled or finished rows exist. SKIP LOCKED lets any number of workers claim at once.
    with open_queues as (
        select q.name,
               least(budget::bigint,
                     case when s.concurrency_limit is null then budget::bigint
                          else s.concurrency_limit - (
                               select count(*) from pgtide.executions r
                                where r.status = 'running' and r.queue = q.name) end,
                     case when s.rate_max_starts is null then budget::bigint
                          else pgtide.rate_room(q.name, '', s.rate_max_starts, s.rate_per) end) as room
          from unnest(claim_ids.queues) as q(name)
          left join pgtide.queues s on s.name = q.name
         where s.paused is not true
           and not (q.name = any (coalesce(keyed, '{}')))
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
         limit budget
    )
    select array_agg(due.id) into more from due;
    return ids || coalesce(more, '{}');
end $$;

comment on function pgtide.claim_ids(text[], int) is
    'Internal (pgtide.claim''s general path): locks and returns the ids of up to max_rows due rows of '
    'queues, skipping paused queues and honouring concurrency, key and rate limits.';

create or replace function pgtide.claim(queues text[], max_rows int, worker text, lease_secs float8,
                                         async_commit boolean default false)
returns table (id bigint, handler text, queue text, payload jsonb, attempt int, max_attempts int,
               idempotency_key text, task_id bigint, timeout_secs float8, pickup_secs float8)
language plpgsql volatile as $$
#variable_conflict use_column
declare
    ids bigint[];
    targets tid[];
    started timestamptz := now();
    rated boolean := false;
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
    -- claim index from its head, with no lock and no per-queue planning. It keeps each locked row's
    -- physical address (ctid), so the update below goes straight to the row instead of descending
    -- the primary key again: the claim is the one statement a draining worker waits for, and this
    -- is about a tenth of its time. The address cannot go stale: the row stays locked by this
    -- transaction until it commits, and FOR UPDATE returns the version it locked.
    if cardinality(claim.queues) = 1
       and not exists (select 1 from pgtide.queues s where s.name = claim.queues[1]) then
        targets := array(
            select d.ctid
              from pgtide.executions d
             where d.status = 'queued'
               and d.queue = claim.queues[1]
             order by d.priority, d.visible_at, d.id
             limit claim.max_rows
               for update skip locked);
    else
        ids := pgtide.claim_ids(claim.queues, claim.max_rows);
        -- A rate limit counts starts by the clock after the queue's lock was granted (see
        -- pgtide.rate_room), so the rows start then, and the log records that time.
        rated := exists (select 1 from pgtide.queues s
                          where s.name = any (claim.queues) and s.rate_max_starts is not null);
        if rated then
            started := clock_timestamp();
        end if;
    end if;
    if rated and cardinality(ids) > 0 then
        perform pgtide.record_starts(ids, started);
    end if;
    if targets is null then
        targets := array(select e.ctid from pgtide.executions e where e.id = any (ids));
    end if;
    if cardinality(targets) = 0 then
        return;
    end if;
    -- The rows are updated by address, a TID scan whatever the plan: with a generic plan the
    -- planner cannot know how many rows the LIMIT lets through, and a join could be planned as a
    -- scan of the whole table. Nothing else goes in this WHERE: a condition on status would let the
    -- planner walk a claim index over every queued row and filter by address.
    return query
    with claimed as (
        update pgtide.executions e
           set status = 'running',
               worker_id = claim.worker,
               started_at = started,
               lease_until = now() + make_interval(secs => claim.lease_secs)
         where e.ctid = any (targets)
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

create or replace function pgtide.complete(worker text, ok_ids bigint[], ok_attempts int[], ok_results jsonb[],
                                fail_ids bigint[], fail_attempts int[], fail_errors text[],
                                fail_permanent boolean[])
returns table (id bigint, status text, retry_id bigint)
language plpgsql volatile as $$
#variable_conflict use_column
declare
    done_ids bigint[];
    freed text[];
begin
    perform set_config('plan_cache_mode', 'force_generic_plan', true);
    if cardinality(complete.ok_ids) > 0 then
        -- The status is compared as text on purpose: it keeps the planner from reading every running
        -- row through the lease index, so each row is found by its primary key whatever the
        -- statistics say.
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
            returning e.id, e.queue
        )
        select array_agg(done.id), array_agg(distinct done.queue) into done_ids, freed from done;
        return query select unnest(done_ids), 'succeeded'::text, null::bigint;
    end if;
    if cardinality(complete.fail_ids) > 0 then
        freed := coalesce(freed, '{}') || array(
            select distinct e.queue from pgtide.executions e where e.id = any (complete.fail_ids));
        return query
        select f.id, f.status::text, f.retry_id
          from pgtide.fail_attempts(complete.fail_ids, complete.fail_attempts, complete.fail_errors,
                                    complete.fail_permanent, complete.worker) f;
    end if;
    -- A finished row of a limited queue makes room: wake the queue's idle workers, which sleep after
    -- a claim that the limit cut short.
    perform pg_notify('pgtide_jobs', s.name)
       from pgtide.queues s
      where s.name = any (freed)
        and (s.concurrency_limit is not null or s.key_concurrency_limit is not null
             or exists (select 1 from pgtide.key_limits kl where kl.queue = s.name));
end $$;

comment on function pgtide.complete(text, bigint[], int[], jsonb[], bigint[], int[], text[], boolean[]) is
    'Internal (the worker''s completion flush): marks ok_ids succeeded with their results and records '
    'fail_ids as failed (with a scheduled retry) or dead, fenced on attempt, status and worker, and wakes '
    'the workers of a limited queue that got room. Returns the rows recorded; a row missing from the '
    'answer was no longer this worker''s.';

-- The one failure transition, shared by workers (handler errors, panics, timeouts, unknown handlers)
-- and the rescuer (expired leases). Fenced: only rows still running this attempt (and, for a worker,
-- held by it; for the rescuer, with an expired lease) change, so a stale caller changes nothing and a
-- row that completed after the rescuer looked at it is left alone.
--
-- A row with attempts left becomes 'failed' and its next attempt is inserted as 'scheduled' in the same
-- statement; otherwise, or when the error is permanent, it becomes 'dead'.
create or replace function pgtide.fail_attempts(
    ids bigint[], attempts int[], errors text[], permanent boolean[],
    worker text, expired_only boolean default false
) returns table (id bigint, status pgtide.execution_status, retry_id bigint)
language sql volatile as $$
    with input as (
        select * from unnest(ids, attempts, errors, permanent) as i(id, attempt, error, permanent)
    ), marked as (
        update pgtide.executions e
           set status = case when i.permanent or e.attempt >= e.max_attempts
                             then 'dead'::pgtide.execution_status
                             else 'failed'::pgtide.execution_status end,
               error = i.error,
               finished_at = now(),
               lease_until = null
          from input i
         where e.id = i.id
           and e.attempt = i.attempt
           and e.status = 'running'
           and (fail_attempts.worker is null or e.worker_id = fail_attempts.worker)
           and (not fail_attempts.expired_only or e.lease_until < now())
        returning e.*
    ), retries as (
        insert into pgtide.executions (
            task_id, task_name, queue, handler, payload, priority, status, attempt, max_attempts,
            retry_strategy, retry_base, retry_max, timeout, idempotency_key, retry_of, scheduled_for,
            concurrency_key, visible_at)
        select m.task_id, m.task_name, m.queue, m.handler, m.payload, m.priority, 'scheduled',
               m.attempt + 1, m.max_attempts, m.retry_strategy, m.retry_base, m.retry_max, m.timeout,
               pgtide.retry_key(m.idempotency_key, m.attempt), m.id, m.scheduled_for, m.concurrency_key,
               now() + pgtide.retry_delay(m.retry_strategy, m.retry_base, m.retry_max, m.attempt)
                       * (1 + 0.1 * random())
          from marked m
         where m.status = 'failed'
        on conflict (idempotency_key) do nothing
        returning executions.id, executions.retry_of
    )
    select m.id, m.status, r.id from marked m left join retries r on r.retry_of = m.id
$$;

comment on function pgtide.fail_attempts(bigint[], int[], text[], boolean[], text, boolean) is
    'Internal: records failed attempts (fenced on status, attempt and worker or lease expiry) and inserts '
    'their retries, or marks them dead. Returns the rows that changed.';

-- A worker that claimed ahead of its free slots (`prefetch`) gives back a job it could not start soon:
-- the row is queued again, in its old place (visible_at is kept), for any worker to claim. Nothing ran,
-- so the attempt is not spent. Fenced like a completion: only a row still running this attempt for
-- this worker changes. The queue's workers are woken whatever the head's age (pgtide.notify_queue
-- stays quiet for an old head, and a released row is usually old).
create or replace function pgtide.release(worker text, ids bigint[], attempts int[])
returns setof bigint language plpgsql volatile as $$
#variable_conflict use_column
declare
    released bigint[];
    queues text[];
    q text;
begin
    with back as (
        update pgtide.executions e
           set status = 'queued',
               worker_id = null,
               started_at = null,
               lease_until = null
          from unnest(release.ids, release.attempts) as r(id, attempt)
         where e.id = r.id
           and e.attempt = r.attempt
           and e.status::text = 'running'
           and e.worker_id = release.worker
        returning e.id, e.queue
    )
    select array_agg(back.id), array_agg(distinct back.queue) into released, queues from back;
    foreach q in array coalesce(queues, '{}') loop
        perform pg_notify('pgtide_jobs', q);
    end loop;
    return query select unnest(released);
end $$;

comment on function pgtide.release(text, bigint[], int[]) is
    'Internal (the worker''s prefetch): puts rows this worker claimed but did not start back in the '
    'queue, unspent, and wakes their queues'' workers. Returns the ids released; a row missing from '
    'the answer was no longer this worker''s.';

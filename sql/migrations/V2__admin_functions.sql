-- pgtide admin API: the SQL functions and views of DESIGN.md's contract, plus the internal helpers the
-- runtime shares with them (retry policy, the failure transition), so every surface applies one rule.

-- ---------------------------------------------------------------------------------------------------
-- Input validation. Every error names the function, the field, the value and what was expected, and is
-- raised before anything is written.
-- ---------------------------------------------------------------------------------------------------

create function pgtide.invalid_input(fn text, field text, value text, expected text)
returns void language plpgsql volatile as $$
begin
    raise exception using
        errcode = 'invalid_parameter_value',
        message = format('%s: invalid %s %s: expected %s',
                         fn, field, coalesce(quote_literal(value), 'NULL'), expected);
end $$;

comment on function pgtide.invalid_input(text, text, text, text) is
    'Raises invalid_parameter_value (22023) naming the function, the field, the value and what was expected.';

-- The policy fields that tasks and ad-hoc jobs share.
create function pgtide.check_policy(
    fn text, handler text, queue text, priority int, max_attempts int, retry_strategy text,
    retry_base interval, retry_max interval, timeout interval
) returns void language plpgsql volatile as $$
begin
    if handler is null or btrim(handler) = '' then
        perform pgtide.invalid_input(fn, 'handler', handler, 'a non-empty handler name');
    end if;
    if length(handler) > 200 then
        perform pgtide.invalid_input(fn, 'handler', left(handler, 40) || '...', 'at most 200 characters');
    end if;
    if queue is null or btrim(queue) = '' then
        perform pgtide.invalid_input(fn, 'queue', queue, 'a non-empty queue name');
    end if;
    if length(queue) > 200 then
        perform pgtide.invalid_input(fn, 'queue', left(queue, 40) || '...', 'at most 200 characters');
    end if;
    if priority is null or priority not between -32768 and 32767 then
        perform pgtide.invalid_input(fn, 'priority', priority::text, 'an integer from -32768 to 32767');
    end if;
    if max_attempts is null or max_attempts < 1 then
        perform pgtide.invalid_input(fn, 'max_attempts', max_attempts::text, 'an integer >= 1');
    end if;
    if retry_strategy is null or retry_strategy not in ('fixed', 'exponential') then
        perform pgtide.invalid_input(fn, 'retry_strategy', retry_strategy, '''fixed'' or ''exponential''');
    end if;
    if retry_base is null or retry_base < interval '0' then
        perform pgtide.invalid_input(fn, 'retry_base', retry_base::text, 'an interval >= 0');
    end if;
    if retry_max is null or retry_max < interval '0' then
        perform pgtide.invalid_input(fn, 'retry_max', retry_max::text, 'an interval >= 0');
    end if;
    if timeout is null or timeout <= interval '0' then
        perform pgtide.invalid_input(fn, 'timeout', timeout::text, 'an interval > 0');
    end if;
end $$;

comment on function pgtide.check_policy(text, text, text, int, int, text, interval, interval, interval) is
    'Validates the handler, queue and retry policy shared by enqueue and create_task; raises on bad input.';

create function pgtide.check_payload(fn text, payload jsonb) returns void
language plpgsql volatile as $$
declare
    size int := octet_length(payload::text);
begin
    if size > 1048576 then
        raise exception using
            errcode = 'program_limit_exceeded',
            message = format('%s: invalid payload of %s bytes: expected at most 1048576 bytes (1 MiB)',
                             fn, size);
    end if;
end $$;

comment on function pgtide.check_payload(text, jsonb) is
    'Rejects payloads over 1 MiB (measured as JSON text).';

-- ---------------------------------------------------------------------------------------------------
-- Retry policy
-- ---------------------------------------------------------------------------------------------------

create function pgtide.retry_delay(
    retry_strategy text, retry_base interval, retry_max interval, attempt int
) returns interval language sql immutable parallel safe as $$
    -- Computed in seconds as double precision so that a large attempt number saturates at retry_max
    -- instead of overflowing the interval type.
    select case retry_strategy
        when 'fixed' then retry_base
        else make_interval(secs => least(
            extract(epoch from retry_max)::float8,
            extract(epoch from retry_base)::float8 * power(2::float8, least(greatest(attempt, 1) - 1, 1000))))
    end
$$;

comment on function pgtide.retry_delay(text, interval, interval, int) is
    'Delay before the attempt after failed attempt n, without jitter: fixed gives retry_base, exponential '
    'gives min(retry_max, retry_base * 2^(n-1)). The runtime adds up to 10% random jitter.';

create function pgtide.retry_key(idempotency_key text, attempt int) returns text
language sql immutable parallel safe as $$
    -- Attempt 1's key is the root; attempt n >= 2 is "<root>#<n>". Only the exact "#<attempt>" suffix
    -- is stripped, so a user key that itself contains '#' survives.
    select case
        when attempt >= 2 and right(idempotency_key, length('#' || attempt)) = '#' || attempt
            then left(idempotency_key, length(idempotency_key) - length('#' || attempt))
        else idempotency_key
    end || '#' || (attempt + 1)
$$;

comment on function pgtide.retry_key(text, int) is
    'Idempotency key of the attempt after the given one: "<attempt 1''s key>#<n>".';

-- The one failure transition, shared by workers (handler errors, panics, timeouts, unknown handlers)
-- and the rescuer (expired leases). Fenced: only rows still running this attempt (and, for a worker,
-- held by it; for the rescuer, with an expired lease) change, so a stale caller changes nothing and a
-- row that completed after the rescuer looked at it is left alone.
--
-- A row with attempts left becomes 'failed' and its next attempt is inserted as 'scheduled' in the same
-- statement; otherwise, or when the error is permanent, it becomes 'dead'.
create function pgtide.fail_attempts(
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
            visible_at)
        select m.task_id, m.task_name, m.queue, m.handler, m.payload, m.priority, 'scheduled',
               m.attempt + 1, m.max_attempts, m.retry_strategy, m.retry_base, m.retry_max, m.timeout,
               pgtide.retry_key(m.idempotency_key, m.attempt), m.id, m.scheduled_for,
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

-- ---------------------------------------------------------------------------------------------------
-- Enqueue
-- ---------------------------------------------------------------------------------------------------

create function pgtide.enqueue(
    handler text,
    payload jsonb default '{}',
    queue text default 'default',
    run_at timestamptz default null,
    idempotency_key text default null,
    priority int default 0,
    max_attempts int default 5,
    retry_strategy text default 'exponential',
    retry_base interval default '10 seconds',
    retry_max interval default '1 hour',
    timeout interval default '5 minutes'
) returns bigint language plpgsql volatile as $$
#variable_conflict use_column
declare
    new_id bigint;
begin
    perform pgtide.check_policy('pgtide.enqueue', enqueue.handler, enqueue.queue, enqueue.priority,
        enqueue.max_attempts, enqueue.retry_strategy, enqueue.retry_base, enqueue.retry_max,
        enqueue.timeout);
    perform pgtide.check_payload('pgtide.enqueue', enqueue.payload);
    if enqueue.idempotency_key = '' then
        perform pgtide.invalid_input('pgtide.enqueue', 'idempotency_key', '',
            'NULL (a generated key) or a non-empty key');
    end if;

    insert into pgtide.executions (
        handler, payload, queue, priority, status, max_attempts, retry_strategy, retry_base,
        retry_max, timeout, idempotency_key, visible_at)
    values (
        enqueue.handler, coalesce(enqueue.payload, '{}'), enqueue.queue, enqueue.priority,
        case when enqueue.run_at > now() then 'scheduled' else 'queued' end::pgtide.execution_status,
        enqueue.max_attempts, enqueue.retry_strategy, enqueue.retry_base, enqueue.retry_max,
        enqueue.timeout, coalesce(enqueue.idempotency_key, gen_random_uuid()::text),
        greatest(coalesce(enqueue.run_at, now()), now()))
    on conflict (idempotency_key) do nothing
    returning id into new_id;

    if new_id is null then
        select e.id into new_id from pgtide.executions e
         where e.idempotency_key = enqueue.idempotency_key;
    end if;
    return new_id;
end $$;

comment on function pgtide.enqueue(text, jsonb, text, timestamptz, text, int, int, text, interval, interval, interval) is
    'Enqueues an ad-hoc job and returns its execution id. run_at in the future gives a scheduled row, '
    'otherwise queued. An existing idempotency_key returns the existing row''s id and inserts nothing.';

-- ---------------------------------------------------------------------------------------------------
-- Executions: requeue, cancel, prune
-- ---------------------------------------------------------------------------------------------------

create function pgtide.retry_dead(execution_id bigint) returns bigint
language plpgsql volatile as $$
declare
    dead pgtide.executions;
    new_id bigint;
begin
    select * into dead from pgtide.executions e where e.id = execution_id;
    if not found then
        perform pgtide.invalid_input('pgtide.retry_dead', 'execution_id', execution_id::text,
            'the id of an existing execution');
    end if;
    if dead.status <> 'dead' then
        perform pgtide.invalid_input('pgtide.retry_dead', 'execution_id', execution_id::text,
            format('a dead execution (execution %s is %s)', execution_id, dead.status));
    end if;

    insert into pgtide.executions (
        task_id, task_name, queue, handler, payload, priority, status, attempt, max_attempts,
        retry_strategy, retry_base, retry_max, timeout, idempotency_key, retry_of, scheduled_for)
    values (
        dead.task_id, dead.task_name, dead.queue, dead.handler, dead.payload, dead.priority, 'queued',
        1, dead.max_attempts, dead.retry_strategy, dead.retry_base, dead.retry_max, dead.timeout,
        dead.idempotency_key || ':requeued', dead.id, dead.scheduled_for)
    on conflict (idempotency_key) do nothing
    returning id into new_id;

    if new_id is null then
        select e.id into new_id from pgtide.executions e
         where e.idempotency_key = dead.idempotency_key || ':requeued';
    end if;
    return new_id;
end $$;

comment on function pgtide.retry_dead(bigint) is
    'Requeues a dead execution as a fresh attempt 1 with key "<dead key>:requeued" and returns its id. '
    'Idempotent: requeuing the same row again returns the same id.';

create function pgtide.cancel(execution_id bigint) returns pgtide.execution_status
language plpgsql volatile as $$
declare
    before pgtide.execution_status;
begin
    select e.status into before from pgtide.executions e where e.id = execution_id for update;
    if not found then
        perform pgtide.invalid_input('pgtide.cancel', 'execution_id', execution_id::text,
            'the id of an existing execution');
    end if;
    if before = 'cancelled' then
        return before;
    end if;
    if before not in ('scheduled', 'queued', 'running') then
        perform pgtide.invalid_input('pgtide.cancel', 'execution_id', execution_id::text,
            format('a scheduled, queued or running execution (execution %s is %s)', execution_id, before));
    end if;
    -- A running row is cancelled too: the worker's completion is then refused by fencing, and its
    -- next heartbeat sees the lost lease and stops the handler.
    update pgtide.executions e
       set status = 'cancelled', finished_at = now(), lease_until = null,
           error = coalesce(e.error, format('cancelled by %s while %s', current_user, before))
     where e.id = execution_id;
    return before;
end $$;

comment on function pgtide.cancel(bigint) is
    'Cancels a scheduled, queued or running execution and returns the status it had. Cancelling a '
    'cancelled row is a no-op; a finished row raises an error.';

create function pgtide.prune(
    older_than interval,
    statuses pgtide.execution_status[] default '{succeeded,failed,cancelled,dead}',
    batch_size int default null
) returns bigint language plpgsql volatile as $$
declare
    deleted bigint;
begin
    if older_than is null or older_than < interval '0' then
        perform pgtide.invalid_input('pgtide.prune', 'older_than', older_than::text, 'an interval >= 0');
    end if;
    if statuses is null or statuses && '{scheduled,queued,running}'::pgtide.execution_status[] then
        perform pgtide.invalid_input('pgtide.prune', 'statuses', statuses::text,
            'finished statuses only (succeeded, failed, cancelled, dead)');
    end if;
    if batch_size is not null and batch_size < 1 then
        perform pgtide.invalid_input('pgtide.prune', 'batch_size', batch_size::text,
            'NULL (everything) or an integer >= 1');
    end if;
    with doomed as (
        select e.id from pgtide.executions e
         where e.status = any (statuses)
           and e.finished_at < now() - older_than
         order by e.finished_at
         limit batch_size
           for update skip locked
    )
    delete from pgtide.executions e using doomed where e.id = doomed.id;
    get diagnostics deleted = row_count;
    return deleted;
end $$;

comment on function pgtide.prune(interval, pgtide.execution_status[], int) is
    'Deletes finished executions (by default every finished status) whose finished_at is older than '
    'older_than, at most batch_size rows per call, and returns how many it deleted.';

-- ---------------------------------------------------------------------------------------------------
-- Tasks. The scheduler computes next_run_at for cron and interval tasks (pgtide_tasks wakes it); SQL
-- checks what SQL can check.
-- ---------------------------------------------------------------------------------------------------

create function pgtide.check_schedule(
    fn text, cron text, every interval, run_at timestamptz, timezone text
) returns void language plpgsql stable as $$
declare
    fields text[];
begin
    if num_nonnulls(cron, every, run_at) <> 1 then
        perform pgtide.invalid_input(fn, 'schedule',
            format('cron=%s every=%s run_at=%s', coalesce(cron, 'NULL'), coalesce(every::text, 'NULL'),
                   coalesce(run_at::text, 'NULL')),
            'exactly one of cron, every or run_at');
    end if;
    if cron is not null then
        if cron !~ '^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$' then
            fields := regexp_split_to_array(btrim(cron), '\s+');
            if cardinality(fields) not in (5, 6) then
                perform pgtide.invalid_input(fn, 'cron', cron,
                    format('5 fields (minute hour day month weekday), 6 with leading seconds, or an '
                           '@alias; got %s field(s)', cardinality(fields)));
            end if;
            if cron !~ '^[0-9A-Za-z*/,?#\s-]+$' then
                perform pgtide.invalid_input(fn, 'cron', cron,
                    'only digits, names, and the characters * / , - ? #');
            end if;
        end if;
    end if;
    if every is not null and every <= interval '0' then
        perform pgtide.invalid_input(fn, 'every', every::text, 'a positive interval');
    end if;
    if timezone is null or not exists (select 1 from pg_timezone_names where name = timezone) then
        perform pgtide.invalid_input(fn, 'timezone', timezone, 'an IANA time zone name such as Europe/Berlin');
    end if;
end $$;

comment on function pgtide.check_schedule(text, text, interval, timestamptz, text) is
    'Validates a task schedule as far as SQL can: exactly one kind, cron shape, positive every, known zone.';

create function pgtide.create_task(
    name text,
    handler text,
    payload jsonb default '{}',
    cron text default null,
    every interval default null,
    run_at timestamptz default null,
    timezone text default 'UTC',
    queue text default 'default',
    priority int default 0,
    max_attempts int default 5,
    retry_strategy text default 'exponential',
    retry_base interval default '10 seconds',
    retry_max interval default '1 hour',
    timeout interval default '5 minutes',
    overlap text default 'allow',
    misfire text default 'fire_once',
    tags text[] default '{}'
) returns bigint language plpgsql volatile as $$
#variable_conflict use_column
declare
    new_id bigint;
begin
    if create_task.name is null or btrim(create_task.name) = '' or length(create_task.name) > 200 then
        perform pgtide.invalid_input('pgtide.create_task', 'name', create_task.name,
            'a non-empty name of at most 200 characters');
    end if;
    perform pgtide.check_policy('pgtide.create_task', create_task.handler, create_task.queue,
        create_task.priority, create_task.max_attempts, create_task.retry_strategy,
        create_task.retry_base, create_task.retry_max, create_task.timeout);
    perform pgtide.check_payload('pgtide.create_task', create_task.payload);
    perform pgtide.check_schedule('pgtide.create_task', create_task.cron, create_task.every,
        create_task.run_at, create_task.timezone);
    if create_task.overlap is null or create_task.overlap not in ('allow', 'skip') then
        perform pgtide.invalid_input('pgtide.create_task', 'overlap', create_task.overlap,
            '''allow'' or ''skip''');
    end if;
    if create_task.misfire is null or create_task.misfire not in ('fire_once', 'skip', 'catch_up') then
        perform pgtide.invalid_input('pgtide.create_task', 'misfire', create_task.misfire,
            '''fire_once'', ''skip'' or ''catch_up''');
    end if;
    if exists (select 1 from pgtide.tasks t where t.name = create_task.name) then
        raise exception using
            errcode = 'unique_violation',
            message = format('pgtide.create_task: a task named %s already exists', quote_literal(create_task.name));
    end if;

    insert into pgtide.tasks (
        name, handler, payload, cron, every, run_at, timezone, queue, priority, max_attempts,
        retry_strategy, retry_base, retry_max, timeout, overlap, misfire, tags, next_run_at)
    values (
        create_task.name, create_task.handler, coalesce(create_task.payload, '{}'),
        nullif(btrim(create_task.cron), ''), create_task.every, create_task.run_at,
        create_task.timezone, create_task.queue, create_task.priority, create_task.max_attempts,
        create_task.retry_strategy, create_task.retry_base, create_task.retry_max,
        create_task.timeout, create_task.overlap, create_task.misfire,
        coalesce(create_task.tags, '{}'), create_task.run_at)
    returning id into new_id;
    return new_id;
end $$;

comment on function pgtide.create_task(text, text, jsonb, text, interval, timestamptz, text, text, int, int, text, interval, interval, interval, text, text, text[]) is
    'Creates a task (exactly one of cron, every, run_at) and returns its id. The scheduler computes '
    'next_run_at for cron and interval tasks as soon as the pgtide_tasks notification reaches it.';

create function pgtide.task_by_name(fn text, task_name text) returns pgtide.tasks
language plpgsql volatile as $$
declare
    t pgtide.tasks;
begin
    select * into t from pgtide.tasks where name = task_name for update;
    if not found then
        perform pgtide.invalid_input(fn, 'name', task_name, 'the name of an existing task');
    end if;
    return t;
end $$;

comment on function pgtide.task_by_name(text, text) is
    'Internal: locks and returns the named task, or raises a clear error naming the caller.';

create function pgtide.pause_task(name text) returns void
language plpgsql volatile as $$
declare
    t pgtide.tasks := pgtide.task_by_name('pgtide.pause_task', pause_task.name);
begin
    if t.status in ('finished', 'invalid') then
        perform pgtide.invalid_input('pgtide.pause_task', 'name', t.name,
            format('an active or paused task (task %s is %s)', quote_literal(t.name), t.status));
    end if;
    update pgtide.tasks set status = 'paused' where id = t.id and status <> 'paused';
end $$;

comment on function pgtide.pause_task(text) is
    'Stops a task from firing until resume_task. Pausing a paused task is a no-op.';

create function pgtide.resume_task(name text) returns void
language plpgsql volatile as $$
declare
    t pgtide.tasks := pgtide.task_by_name('pgtide.resume_task', resume_task.name);
begin
    if t.status = 'finished' then
        perform pgtide.invalid_input('pgtide.resume_task', 'name', t.name,
            format('a paused, active or invalid task (task %s is finished)', quote_literal(t.name)));
    end if;
    -- next_run_at is cleared for cron and interval tasks so the scheduler recomputes it from now: a
    -- resumed task does not burst through the slots it missed while paused.
    update pgtide.tasks
       set status = 'active', last_error = null,
           next_run_at = case when run_at is not null then run_at end
     where id = t.id and status <> 'active';
end $$;

comment on function pgtide.resume_task(text) is
    'Resumes a paused (or fixed invalid) task; its schedule is recomputed from now.';

create function pgtide.trigger_task(name text, idempotency_key text default null) returns bigint
language plpgsql volatile as $$
#variable_conflict use_column
declare
    t pgtide.tasks := pgtide.task_by_name('pgtide.trigger_task', trigger_task.name);
    key text := coalesce(trigger_task.idempotency_key,
                         format('task:%s:manual:%s', t.id, gen_random_uuid()));
    new_id bigint;
begin
    if key = '' then
        perform pgtide.invalid_input('pgtide.trigger_task', 'idempotency_key', '',
            'NULL (a generated key) or a non-empty key');
    end if;
    insert into pgtide.executions (
        task_id, task_name, queue, handler, payload, priority, status, max_attempts, retry_strategy,
        retry_base, retry_max, timeout, idempotency_key)
    values (
        t.id, t.name, t.queue, t.handler, t.payload, t.priority, 'queued', t.max_attempts,
        t.retry_strategy, t.retry_base, t.retry_max, t.timeout, key)
    on conflict (idempotency_key) do nothing
    returning id into new_id;
    if new_id is null then
        select e.id into new_id from pgtide.executions e where e.idempotency_key = key;
    end if;
    return new_id;
end $$;

comment on function pgtide.trigger_task(text, text) is
    'Fires a task now, independently of its schedule, and returns the execution id. The key is '
    '"task:<id>:manual:<uuid>" unless the caller gives one.';

create function pgtide.delete_task(name text) returns void
language plpgsql volatile as $$
declare
    t pgtide.tasks := pgtide.task_by_name('pgtide.delete_task', delete_task.name);
begin
    -- executions.task_id is set to NULL by the foreign key; task_name keeps the history readable.
    delete from pgtide.tasks where id = t.id;
end $$;

comment on function pgtide.delete_task(text) is
    'Deletes a task and keeps its executions (task_id becomes NULL, task_name stays).';

-- ---------------------------------------------------------------------------------------------------
-- Notifications
-- ---------------------------------------------------------------------------------------------------

-- At most one NOTIFY per queue per statement (NOTIFY takes a database-wide lock at commit, and Postgres
-- folds identical notifications within a transaction anyway).
create function pgtide.notify_jobs() returns trigger language plpgsql as $$
begin
    perform pg_notify('pgtide_jobs', q.queue)
       from (select distinct n.queue from new_rows n where n.status = 'queued') q;
    return null;
end $$;

create trigger executions_notify_jobs
    after insert on pgtide.executions
    referencing new table as new_rows
    for each statement execute function pgtide.notify_jobs();

create function pgtide.touch_task() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end $$;

create trigger tasks_touch before update on pgtide.tasks
    for each row execute function pgtide.touch_task();

-- Wakes schedulers when a task is created, deleted, or its schedule or status changes. The scheduler's
-- own next_run_at/last_run_at bookkeeping does not notify, so instances don't wake each other up.
create function pgtide.notify_tasks() returns trigger language plpgsql as $$
begin
    perform pg_notify('pgtide_tasks', coalesce(new.id, old.id)::text);
    return null;
end $$;

create trigger tasks_notify_insert_delete after insert or delete on pgtide.tasks
    for each row execute function pgtide.notify_tasks();

create trigger tasks_notify_update after update on pgtide.tasks
    for each row
    when (old.cron is distinct from new.cron
       or old.every is distinct from new.every
       or old.run_at is distinct from new.run_at
       or old.timezone is distinct from new.timezone
       or old.status is distinct from new.status
       or old.misfire is distinct from new.misfire
       or (old.next_run_at is not null and new.next_run_at is null))
    execute function pgtide.notify_tasks();

-- ---------------------------------------------------------------------------------------------------
-- Views
-- ---------------------------------------------------------------------------------------------------

create view pgtide.dead_letters as
select e.*
  from pgtide.executions e
 where e.status = 'dead'
   and not exists (select 1 from pgtide.executions r
                    where r.idempotency_key = e.idempotency_key || ':requeued');

comment on view pgtide.dead_letters is
    'The dead-letter queue: dead executions not yet requeued with pgtide.retry_dead.';

create view pgtide.queue_stats as
select e.queue,
       count(*) filter (where e.status = 'scheduled') as scheduled,
       count(*) filter (where e.status = 'queued')    as queued,
       count(*) filter (where e.status = 'running')   as running,
       count(*) filter (where e.status = 'succeeded') as succeeded,
       count(*) filter (where e.status = 'failed')    as failed,
       count(*) filter (where e.status = 'dead')      as dead,
       count(*) filter (where e.status = 'cancelled') as cancelled,
       now() - min(e.visible_at) filter (where e.status = 'queued') as oldest_due_age,
       count(*) filter (where e.finished_at > now() - interval '5 minutes'
                          and e.status in ('succeeded', 'failed', 'dead')) as completed_5m,
       round(coalesce(
           count(*) filter (where e.finished_at > now() - interval '5 minutes'
                              and e.status in ('failed', 'dead'))::numeric
           / nullif(count(*) filter (where e.finished_at > now() - interval '5 minutes'
                                       and e.status in ('succeeded', 'failed', 'dead')), 0),
           0), 4) as failure_rate_5m
  from pgtide.executions e
 group by e.queue;

comment on view pgtide.queue_stats is
    'Per queue: counts by status, age of the oldest due row, attempts finished in the last 5 minutes and '
    'the share of them that failed.';

create view pgtide.task_overview as
select t.id, t.name, t.handler, t.queue, t.status,
       case when t.cron is not null then 'cron ' || t.cron || ' ' || t.timezone
            when t.every is not null then 'every ' || t.every::text
            else 'once at ' || t.run_at::text end as schedule,
       t.next_run_at, t.last_run_at,
       last.status as last_outcome,
       last.finished_at as last_finished_at,
       last.error as last_execution_error,
       recent.success_rate,
       recent.finished as recent_finished,
       t.last_error, t.tags
  from pgtide.tasks t
  left join lateral (
        select e.status, e.finished_at, e.error from pgtide.executions e
         where e.task_id = t.id
         order by e.id desc limit 1) last on true
  left join lateral (
        select count(*) as finished,
               round(count(*) filter (where r.status = 'succeeded')::numeric
                     / nullif(count(*), 0), 4) as success_rate
          from (select e.status from pgtide.executions e
                 where e.task_id = t.id and e.status in ('succeeded', 'failed', 'dead')
                 order by e.id desc limit 20) r) recent on true;

comment on view pgtide.task_overview is
    'Per task: schedule, next and last run, the latest execution''s outcome, and the success rate of its '
    'last 20 finished attempts.';

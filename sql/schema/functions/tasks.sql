-- Tasks. The scheduler computes next_run_at for cron and interval tasks (pgtide_tasks wakes it); SQL
-- checks what SQL can check.
--
-- Applied by `pgtide migrate` whenever this file changes (see sql/schema/README.md).

-- When a task's schedule changes (by any means, raw UPDATE included), forget the planned slot so the
-- scheduler recomputes it from the new schedule, and give an invalid or finished task another chance:
-- the scheduler re-validates it and marks it invalid again if it still does not parse.
create or replace function pgtide.touch_task() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    if new.cron is distinct from old.cron
       or new.every is distinct from old.every
       or new.run_at is distinct from old.run_at
       or new.timezone is distinct from old.timezone then
        new.next_run_at := new.run_at;
        if new.status in ('invalid', 'finished') and new.status = old.status then
            new.status := 'active';
            new.last_error := null;
        end if;
    end if;
    return new;
end $$;

comment on function pgtide.touch_task() is
    'Keeps updated_at current, and re-plans a task whose schedule changed.';

create or replace function pgtide.create_task(
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
    tags text[] default '{}',
    concurrency_key text default null
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
    perform pgtide.check_concurrency_key('pgtide.create_task', create_task.concurrency_key);
    if exists (select 1 from pgtide.tasks t where t.name = create_task.name) then
        raise exception using
            errcode = 'unique_violation',
            message = format('pgtide.create_task: a task named %s already exists', quote_literal(create_task.name));
    end if;

    insert into pgtide.tasks (
        name, handler, payload, cron, every, run_at, timezone, queue, priority, max_attempts,
        retry_strategy, retry_base, retry_max, timeout, overlap, misfire, tags, next_run_at,
        concurrency_key)
    values (
        create_task.name, create_task.handler, coalesce(create_task.payload, '{}'),
        nullif(btrim(create_task.cron), ''), create_task.every, create_task.run_at,
        create_task.timezone, create_task.queue, create_task.priority, create_task.max_attempts,
        create_task.retry_strategy, create_task.retry_base, create_task.retry_max,
        create_task.timeout, create_task.overlap, create_task.misfire,
        coalesce(create_task.tags, '{}'), create_task.run_at, create_task.concurrency_key)
    returning id into new_id;
    return new_id;
end $$;

comment on function pgtide.create_task(text, text, jsonb, text, interval, timestamptz, text, text, int, int, text, interval, interval, interval, text, text, text[], text) is
    'Creates a task (exactly one of cron, every, run_at) and returns its id. The scheduler computes '
    'next_run_at for cron and interval tasks as soon as the pgtide_tasks notification reaches it.';

create or replace function pgtide.task_by_name(fn text, task_name text) returns pgtide.tasks
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

create or replace function pgtide.pause_task(name text) returns void
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

create or replace function pgtide.resume_task(name text) returns void
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

create or replace function pgtide.trigger_task(name text, idempotency_key text default null) returns bigint
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
        retry_base, retry_max, timeout, idempotency_key, concurrency_key)
    values (
        t.id, t.name, t.queue, t.handler, t.payload, t.priority, 'queued', t.max_attempts,
        t.retry_strategy, t.retry_base, t.retry_max, t.timeout, key, t.concurrency_key)
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

create or replace function pgtide.delete_task(name text) returns void
language plpgsql volatile as $$
declare
    t pgtide.tasks := pgtide.task_by_name('pgtide.delete_task', delete_task.name);
begin
    -- executions.task_id is set to NULL by the foreign key; task_name keeps the history readable.
    delete from pgtide.tasks where id = t.id;
end $$;

comment on function pgtide.delete_task(text) is
    'Deletes a task and keeps its executions (task_id becomes NULL, task_name stays).';

-- Admin surfaces: queue pause and concurrency limits, the audit log, role recipes, and COMMENT ON for
-- every object, so `\d+` and `\df+` in psql explain the schema by themselves.

-- ---------------------------------------------------------------------------------------------------
-- Errors carry the field in the COLUMN field of the error report, so a client (the HTTP API) can name
-- it without parsing the message, and a missing object gets its own SQLSTATE (no_data_found, P0002)
-- so it can answer 404 instead of 400.
-- ---------------------------------------------------------------------------------------------------

create or replace function pgtide.invalid_input(fn text, field text, value text, expected text)
returns void language plpgsql volatile as $$
begin
    raise exception using
        errcode = case when expected like 'the % of an existing %' then 'no_data_found'
                       else 'invalid_parameter_value' end,
        column = field,
        message = format('%s: invalid %s %s: expected %s',
                         fn, field, coalesce(quote_literal(value), 'NULL'), expected);
end $$;

comment on function pgtide.invalid_input(text, text, text, text) is
    'Raises invalid_parameter_value (22023), or no_data_found (P0002) for a missing object, naming the '
    'function, the field, the value and what was expected; the field is also in the error''s COLUMN.';

-- Walking a retry chain (pgtide jobs show) from its first attempt down.
create index executions_retry_of_idx on pgtide.executions (retry_of) where retry_of is not null;

-- ---------------------------------------------------------------------------------------------------
-- Queues. A queue exists implicitly as soon as a job names it; a row here only records settings.
-- ---------------------------------------------------------------------------------------------------

create table pgtide.queues (
    name               text        primary key,
    paused             boolean     not null default false,
    concurrency_limit  int,
    paused_at          timestamptz,
    updated_at         timestamptz not null default now(),
    constraint queues_name_not_empty check (name <> ''),
    constraint queues_limit_positive check (concurrency_limit is null or concurrency_limit >= 1)
);

create function pgtide.check_queue(fn text, queue text) returns void
language plpgsql volatile as $$
begin
    if queue is null or btrim(queue) = '' then
        perform pgtide.invalid_input(fn, 'queue', queue, 'a non-empty queue name');
    end if;
    if length(queue) > 200 then
        perform pgtide.invalid_input(fn, 'queue', left(queue, 40) || '...', 'at most 200 characters');
    end if;
end $$;

create function pgtide.pause_queue(queue text) returns void
language plpgsql volatile as $$
begin
    perform pgtide.check_queue('pgtide.pause_queue', pause_queue.queue);
    insert into pgtide.queues as q (name, paused, paused_at)
    values (pause_queue.queue, true, now())
    on conflict (name) do update
       set paused = true, paused_at = now(), updated_at = now()
     where not q.paused;
end $$;

create function pgtide.resume_queue(queue text) returns void
language plpgsql volatile as $$
begin
    perform pgtide.check_queue('pgtide.resume_queue', resume_queue.queue);
    update pgtide.queues q
       set paused = false, paused_at = null, updated_at = now()
     where q.name = resume_queue.queue and q.paused;
    -- Idle workers sleep until a notification; wake them for the jobs that waited.
    perform pg_notify('pgtide_jobs', resume_queue.queue);
end $$;

create function pgtide.set_queue_limit(queue text, concurrency_limit int) returns void
language plpgsql volatile as $$
begin
    perform pgtide.check_queue('pgtide.set_queue_limit', set_queue_limit.queue);
    if set_queue_limit.concurrency_limit < 1 then
        perform pgtide.invalid_input('pgtide.set_queue_limit', 'concurrency_limit',
            set_queue_limit.concurrency_limit::text, 'NULL (no limit) or an integer >= 1');
    end if;
    insert into pgtide.queues as q (name, concurrency_limit)
    values (set_queue_limit.queue, set_queue_limit.concurrency_limit)
    on conflict (name) do update
       set concurrency_limit = excluded.concurrency_limit, updated_at = now()
     where q.concurrency_limit is distinct from excluded.concurrency_limit;
    -- A raised limit makes room: wake idle workers.
    perform pg_notify('pgtide_jobs', set_queue_limit.queue);
end $$;

-- Every queue that has jobs or settings, with its settings beside queue_stats' counts.
create view pgtide.queue_overview as
select coalesce(s.queue, q.name) as queue,
       coalesce(q.paused, false) as paused,
       q.concurrency_limit,
       q.paused_at,
       coalesce(s.scheduled, 0) as scheduled,
       coalesce(s.queued, 0) as queued,
       coalesce(s.running, 0) as running,
       coalesce(s.succeeded, 0) as succeeded,
       coalesce(s.failed, 0) as failed,
       coalesce(s.dead, 0) as dead,
       coalesce(s.cancelled, 0) as cancelled,
       s.oldest_due_age,
       coalesce(s.completed_5m, 0) as completed_5m,
       coalesce(s.failure_rate_5m, 0) as failure_rate_5m
  from pgtide.queue_stats s
  full join pgtide.queues q on q.name = s.queue;

-- ---------------------------------------------------------------------------------------------------
-- Audit log. Triggers record the changes, so a raw UPDATE from psql is audited like a CLI command.
-- ---------------------------------------------------------------------------------------------------

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

create index audit_log_object_idx on pgtide.audit_log (object_type, object_id, id);
create index audit_log_at_idx on pgtide.audit_log (at);

-- The surface a change came through, from application_name: the CLI, the HTTP API and the console set
-- their own; pgtide's runtime (scheduler, maintenance) uses 'pgtide'; anything else is plain SQL.
-- application_name is chosen by the client, so this is a label for operators, not a security claim:
-- the actor column (current_user) is the identity Postgres vouches for.
create function pgtide.audit_surface() returns text
language sql stable as $$
    select case current_setting('application_name', true)
        when 'pgtide-cli' then 'cli'
        when 'pgtide-http' then 'http'
        when 'pgtide-console' then 'console'
        when 'pgtide' then 'runtime'
        else 'sql'
    end
$$;

create function pgtide.audit(action text, object_type text, object_id text, old jsonb, new jsonb)
returns void language sql volatile as $$
    insert into pgtide.audit_log (surface, application_name, action, object_type, object_id, old, new)
    values (pgtide.audit_surface(), current_setting('application_name', true), action, object_type,
            object_id, old, new)
$$;

-- The keys whose values differ between two rows, as {old} and {new} objects holding just those keys.
create function pgtide.jsonb_diff(a jsonb, b jsonb, out old jsonb, out new jsonb)
language sql immutable as $$
    select coalesce(jsonb_object_agg(k, a -> k), '{}'), coalesce(jsonb_object_agg(k, b -> k), '{}')
      from (select k from jsonb_object_keys(a || b) k where (a -> k) is distinct from (b -> k)) d
$$;

create function pgtide.audit_tasks() returns trigger language plpgsql as $$
declare
    d record;
begin
    if tg_op = 'INSERT' then
        perform pgtide.audit('task.create', 'task', new.name, null, to_jsonb(new));
    elsif tg_op = 'DELETE' then
        perform pgtide.audit('task.delete', 'task', old.name, to_jsonb(old), null);
    else
        d := pgtide.jsonb_diff(to_jsonb(old) - '{next_run_at,last_run_at,updated_at}'::text[],
                               to_jsonb(new) - '{next_run_at,last_run_at,updated_at}'::text[]);
        perform pgtide.audit(
            case when old.status <> 'paused' and new.status = 'paused' then 'task.pause'
                 when old.status = 'paused' and new.status = 'active' then 'task.resume'
                 when new.status = 'finished' and old.status <> 'finished' then 'task.finish'
                 when new.status = 'invalid' and old.status <> 'invalid' then 'task.invalidate'
                 else 'task.update' end,
            'task', old.name, d.old, d.new);
    end if;
    return null;
end $$;

create trigger tasks_audit_insert_delete after insert or delete on pgtide.tasks
    for each row execute function pgtide.audit_tasks();

-- The scheduler's bookkeeping (next_run_at, last_run_at) is not an admin change and is not audited.
create trigger tasks_audit_update after update on pgtide.tasks
    for each row
    when ((to_jsonb(old) - '{next_run_at,last_run_at,updated_at}'::text[])
          is distinct from (to_jsonb(new) - '{next_run_at,last_run_at,updated_at}'::text[]))
    execute function pgtide.audit_tasks();

create function pgtide.audit_queues() returns trigger language plpgsql as $$
declare
    was_paused boolean := tg_op = 'UPDATE' and old.paused;
    old_limit int := case when tg_op = 'UPDATE' then old.concurrency_limit end;
begin
    if tg_op = 'DELETE' then
        perform pgtide.audit('queue.delete', 'queue', old.name, to_jsonb(old), null);
        return null;
    end if;
    if new.paused and not was_paused then
        perform pgtide.audit('queue.pause', 'queue', new.name,
            jsonb_build_object('paused', false), jsonb_build_object('paused', true));
    elsif was_paused and not new.paused then
        perform pgtide.audit('queue.resume', 'queue', new.name,
            jsonb_build_object('paused', true), jsonb_build_object('paused', false));
    end if;
    if new.concurrency_limit is distinct from old_limit then
        perform pgtide.audit('queue.limit', 'queue', new.name,
            jsonb_build_object('concurrency_limit', old_limit),
            jsonb_build_object('concurrency_limit', new.concurrency_limit));
    end if;
    return null;
end $$;

create trigger queues_audit after insert or update or delete on pgtide.queues
    for each row execute function pgtide.audit_queues();

-- Manual triggers (a task's execution with no slot) and requeues from the DLQ (a fresh attempt 1 that
-- retries another row). The WHEN clauses keep the hot paths (enqueue, scheduled fires, retries,
-- completions) from ever calling the function.
create function pgtide.audit_executions() returns trigger language plpgsql as $$
begin
    if tg_op = 'UPDATE' then
        perform pgtide.audit('execution.cancel', 'execution', new.id::text,
            jsonb_build_object('status', old.status),
            jsonb_build_object('status', new.status, 'error', new.error));
    elsif new.retry_of is not null then
        perform pgtide.audit('execution.retry_dead', 'execution', new.retry_of::text, null,
            jsonb_build_object('execution_id', new.id, 'idempotency_key', new.idempotency_key));
    else
        perform pgtide.audit('task.trigger', 'task', coalesce(new.task_name, new.task_id::text), null,
            jsonb_build_object('execution_id', new.id, 'idempotency_key', new.idempotency_key));
    end if;
    return null;
end $$;

create trigger executions_audit_insert after insert on pgtide.executions
    for each row
    when (new.attempt = 1
          and (new.retry_of is not null or (new.task_id is not null and new.scheduled_for is null)))
    execute function pgtide.audit_executions();

create trigger executions_audit_cancel after update of status on pgtide.executions
    for each row
    when (new.status = 'cancelled' and old.status <> 'cancelled')
    execute function pgtide.audit_executions();

-- ---------------------------------------------------------------------------------------------------
-- Roles. Functions are not executable by PUBLIC: a role gets exactly what its recipe grants.
-- ---------------------------------------------------------------------------------------------------

revoke execute on all functions in schema pgtide from public;
alter default privileges in schema pgtide revoke execute on functions from public;

create table pgtide.grants (
    role_name   text        primary key,
    role_kind   text        not null,
    granted_at  timestamptz not null default now(),
    granted_by  text        not null default current_user,
    constraint grants_role_kind_known check (role_kind in ('enqueuer', 'operator', 'worker'))
);

create function pgtide.grant(role_kind text, role_name text) returns text
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
            'pgtide.audit(text, text, text, jsonb, jsonb), pgtide.jsonb_diff(jsonb, jsonb) to %I',
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

-- ---------------------------------------------------------------------------------------------------
-- Comments: every table, column, function and view.
-- ---------------------------------------------------------------------------------------------------

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

comment on table pgtide.leader is
    'The maintenance leader''s lease (one row per role). A row, not an advisory lock, so it works behind '
    'transaction poolers.';
comment on column pgtide.leader.name is 'What is led (''maintenance'').';
comment on column pgtide.leader.holder is 'Id of the process holding the lease.';
comment on column pgtide.leader.acquired_at is 'When the current holder took the lease.';
comment on column pgtide.leader.expires_at is 'The lease ends then unless renewed; another process may take it after.';

comment on table pgtide.workers is
    'Live worker processes, refreshed by heartbeats. Informational: leases on executions decide correctness.';
comment on column pgtide.workers.id is 'Worker id, as in executions.worker_id.';
comment on column pgtide.workers.host is 'Host name.';
comment on column pgtide.workers.pid is 'Process id on that host.';
comment on column pgtide.workers.queues is 'Queues it claims from.';
comment on column pgtide.workers.concurrency is 'Jobs it runs at once.';
comment on column pgtide.workers.started_at is 'When it registered.';
comment on column pgtide.workers.last_seen_at is 'Its latest heartbeat.';

comment on table pgtide.queues is
    'Queue settings. A queue exists as soon as a job names it; a row here pauses it or limits it. '
    'Change with pgtide.pause_queue, resume_queue and set_queue_limit.';
comment on column pgtide.queues.name is 'Queue name, as in executions.queue.';
comment on column pgtide.queues.paused is 'Workers claim nothing from a paused queue; running jobs finish.';
comment on column pgtide.queues.concurrency_limit is 'Most running rows of this queue across all workers together; NULL for no limit.';
comment on column pgtide.queues.paused_at is 'When the queue was paused.';
comment on column pgtide.queues.updated_at is 'When the settings last changed.';

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

comment on table pgtide.grants is 'Roles given a recipe with pgtide.grant, so upgrades can re-apply them.';
comment on column pgtide.grants.role_name is 'The role.';
comment on column pgtide.grants.role_kind is 'enqueuer, operator or worker.';
comment on column pgtide.grants.granted_at is 'When the recipe was last applied.';
comment on column pgtide.grants.granted_by is 'Who applied it.';

comment on table pgtide.refinery_schema_history is 'Applied schema migrations (refinery''s history).';
comment on column pgtide.refinery_schema_history.version is 'Migration version (V<n>).';
comment on column pgtide.refinery_schema_history.name is 'Migration name.';
comment on column pgtide.refinery_schema_history.applied_on is 'When it was applied.';
comment on column pgtide.refinery_schema_history.checksum is 'Checksum of the migration file.';

comment on view pgtide.queue_overview is 'Every queue with jobs or settings: paused, limit, and queue_stats'' counts.';

comment on function pgtide.check_queue(text, text) is 'Internal: validates a queue name; raises on bad input.';
comment on function pgtide.pause_queue(text) is
    'Pauses a queue: workers stop claiming from it at their next claim; running jobs finish. Idempotent.';
comment on function pgtide.resume_queue(text) is 'Resumes a paused queue and wakes idle workers. Idempotent.';
comment on function pgtide.set_queue_limit(text, int) is
    'Caps running rows of a queue across all workers together; NULL removes the cap.';
comment on function pgtide.audit_surface() is 'The surface of the current session (sql, cli, http, console, runtime), from application_name.';
comment on function pgtide.audit(text, text, text, jsonb, jsonb) is 'Internal: appends one row to pgtide.audit_log.';
comment on function pgtide.jsonb_diff(jsonb, jsonb) is 'Internal: the keys whose values differ, as old and new objects.';
comment on function pgtide.audit_tasks() is 'Trigger: audits task creates, changes and deletes (not scheduler bookkeeping).';
comment on function pgtide.audit_queues() is 'Trigger: audits queue pauses, resumes and limit changes.';
comment on function pgtide.audit_executions() is 'Trigger: audits manual triggers, DLQ requeues and cancels.';
comment on function pgtide.grant(text, text) is
    'Applies a role recipe: grant(''enqueuer''|''operator''|''worker'', role_name). See docs/security.md.';
comment on function pgtide.notify_jobs() is 'Trigger: one NOTIFY pgtide_jobs per queue that got due rows in a statement.';
comment on function pgtide.notify_tasks() is 'Trigger: NOTIFY pgtide_tasks when a task is created, deleted or re-planned.';

-- View columns, so \d+ explains them too.
comment on column pgtide.queue_stats.queue is 'Queue name.';
comment on column pgtide.queue_stats.scheduled is 'Rows waiting for their visible_at.';
comment on column pgtide.queue_stats.queued is 'Due rows waiting for a worker.';
comment on column pgtide.queue_stats.running is 'Rows claimed by a worker.';
comment on column pgtide.queue_stats.succeeded is 'Succeeded attempts still kept.';
comment on column pgtide.queue_stats.failed is 'Failed attempts (each has a retry row).';
comment on column pgtide.queue_stats.dead is 'Dead rows (the DLQ), requeued or not.';
comment on column pgtide.queue_stats.cancelled is 'Cancelled rows.';
comment on column pgtide.queue_stats.oldest_due_age is 'How long the oldest due row has waited.';
comment on column pgtide.queue_stats.completed_5m is 'Attempts finished in the last 5 minutes.';
comment on column pgtide.queue_stats.failure_rate_5m is 'Share of those that failed or died (0 to 1).';

comment on column pgtide.queue_overview.queue is 'Queue name.';
comment on column pgtide.queue_overview.paused is 'Whether workers skip it.';
comment on column pgtide.queue_overview.concurrency_limit is 'Running-row cap across workers; NULL for none.';
comment on column pgtide.queue_overview.paused_at is 'When it was paused.';
comment on column pgtide.queue_overview.scheduled is 'Rows waiting for their visible_at.';
comment on column pgtide.queue_overview.queued is 'Due rows waiting for a worker.';
comment on column pgtide.queue_overview.running is 'Rows claimed by a worker.';
comment on column pgtide.queue_overview.succeeded is 'Succeeded attempts still kept.';
comment on column pgtide.queue_overview.failed is 'Failed attempts.';
comment on column pgtide.queue_overview.dead is 'Dead rows.';
comment on column pgtide.queue_overview.cancelled is 'Cancelled rows.';
comment on column pgtide.queue_overview.oldest_due_age is 'How long the oldest due row has waited.';
comment on column pgtide.queue_overview.completed_5m is 'Attempts finished in the last 5 minutes.';
comment on column pgtide.queue_overview.failure_rate_5m is 'Share of those that failed or died.';

comment on column pgtide.task_overview.id is 'Task id.';
comment on column pgtide.task_overview.name is 'Task name.';
comment on column pgtide.task_overview.handler is 'Handler name.';
comment on column pgtide.task_overview.queue is 'Queue its executions go to.';
comment on column pgtide.task_overview.status is 'active, paused, finished or invalid.';
comment on column pgtide.task_overview.schedule is 'The schedule in one line.';
comment on column pgtide.task_overview.next_run_at is 'The next slot.';
comment on column pgtide.task_overview.last_run_at is 'The latest slot fired.';
comment on column pgtide.task_overview.last_outcome is 'Status of the latest execution.';
comment on column pgtide.task_overview.last_finished_at is 'When the latest execution finished.';
comment on column pgtide.task_overview.last_execution_error is 'Error of the latest execution.';
comment on column pgtide.task_overview.success_rate is 'Share of the last 20 finished attempts that succeeded.';
comment on column pgtide.task_overview.recent_finished is 'How many finished attempts that rate is over (at most 20).';
comment on column pgtide.task_overview.last_error is 'Why the task is invalid.';
comment on column pgtide.task_overview.tags is 'The task''s tags.';

-- dead_letters has the columns of executions; say so once per column.
do $$
declare
    c record;
begin
    for c in select a.attname from pg_attribute a
              where a.attrelid = 'pgtide.dead_letters'::regclass and a.attnum > 0 and not a.attisdropped
    loop
        execute format('comment on column pgtide.dead_letters.%I is %L', c.attname,
            coalesce(col_description('pgtide.executions'::regclass,
                         (select attnum from pg_attribute
                           where attrelid = 'pgtide.executions'::regclass and attname = c.attname)),
                     'As in pgtide.executions.'));
    end loop;
end $$;

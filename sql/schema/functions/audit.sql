-- Audit log. Triggers record the changes, so a raw UPDATE from psql is audited like a CLI command.
--
-- Applied by `pgtide migrate` whenever this file changes (see sql/schema/README.md).

-- The surface a change came through, from application_name: the CLI, the HTTP API and the console set
-- their own; pgtide's runtime (scheduler, maintenance) uses 'pgtide'; anything else is plain SQL.
-- application_name is chosen by the client, so this is a label for operators, not a security claim:
-- the actor column (current_user) is the identity Postgres vouches for.
create or replace function pgtide.audit_surface() returns text
language sql stable as $$
    select case current_setting('application_name', true)
        when 'pgtide-cli' then 'cli'
        when 'pgtide-http' then 'http'
        when 'pgtide-console' then 'console'
        when 'pgtide' then 'runtime'
        else 'sql'
    end
$$;

comment on function pgtide.audit_surface() is 'The surface of the current session (sql, cli, http, console, runtime), from application_name.';

create or replace function pgtide.audit(action text, object_type text, object_id text, old jsonb, new jsonb)
returns void language sql volatile as $$
    insert into pgtide.audit_log (surface, application_name, action, object_type, object_id, old, new)
    values (pgtide.audit_surface(), current_setting('application_name', true), action, object_type,
            object_id, old, new)
$$;

comment on function pgtide.audit(text, text, text, jsonb, jsonb) is 'Internal: appends one row to pgtide.audit_log.';

-- The keys whose values differ between two rows, as {old} and {new} objects holding just those keys.
create or replace function pgtide.jsonb_diff(a jsonb, b jsonb, out old jsonb, out new jsonb)
language sql immutable as $$
    select coalesce(jsonb_object_agg(k, a -> k), '{}'), coalesce(jsonb_object_agg(k, b -> k), '{}')
      from (select k from jsonb_object_keys(a || b) k where (a -> k) is distinct from (b -> k)) d
$$;

comment on function pgtide.jsonb_diff(jsonb, jsonb) is 'Internal: the keys whose values differ, as old and new objects.';

create or replace function pgtide.audit_tasks() returns trigger language plpgsql as $$
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

comment on function pgtide.audit_tasks() is 'Trigger: audits task creates, changes and deletes (not scheduler bookkeeping).';

create or replace function pgtide.audit_queues() returns trigger language plpgsql as $$
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
    if new.key_concurrency_limit is distinct from
       (case when tg_op = 'UPDATE' then old.key_concurrency_limit end) then
        perform pgtide.audit('queue.key_limit', 'queue', new.name,
            jsonb_build_object('concurrency_limit',
                case when tg_op = 'UPDATE' then old.key_concurrency_limit end),
            jsonb_build_object('concurrency_limit', new.key_concurrency_limit));
    end if;
    if tg_op = 'INSERT' and new.rate_max_starts is not null
       or tg_op = 'UPDATE' and (new.rate_max_starts, new.rate_per, new.rate_per_key)
                               is distinct from (old.rate_max_starts, old.rate_per, old.rate_per_key) then
        perform pgtide.audit('queue.rate_limit', 'queue', new.name,
            case when tg_op = 'UPDATE' then jsonb_build_object('max_starts', old.rate_max_starts,
                'per', old.rate_per, 'per_key', old.rate_per_key) end,
            jsonb_build_object('max_starts', new.rate_max_starts, 'per', new.rate_per,
                'per_key', new.rate_per_key));
    end if;
    return null;
end $$;

comment on function pgtide.audit_queues() is 'Trigger: audits queue pauses, resumes and limit changes.';

-- A key's own limit: audited as a queue.key_limit with the key beside the limit.
create or replace function pgtide.audit_key_limits() returns trigger language plpgsql as $$
declare
    r pgtide.key_limits := case when tg_op = 'DELETE' then old else new end;
begin
    perform pgtide.audit('queue.key_limit', 'queue', r.queue,
        case when tg_op <> 'INSERT' then jsonb_build_object('concurrency_key', old.concurrency_key,
            'concurrency_limit', old.concurrency_limit) end,
        case when tg_op <> 'DELETE' then jsonb_build_object('concurrency_key', new.concurrency_key,
            'concurrency_limit', new.concurrency_limit) end);
    return null;
end $$;

comment on function pgtide.audit_key_limits() is 'Trigger: audits per-key limit overrides set, changed and removed.';

-- Manual triggers (a task's execution with no slot) and requeues from the DLQ (a fresh attempt 1 that
-- retries another row). The WHEN clauses keep the hot paths (enqueue, scheduled fires, retries,
-- completions) from ever calling the function.
create or replace function pgtide.audit_executions() returns trigger language plpgsql as $$
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

comment on function pgtide.audit_executions() is 'Trigger: audits manual triggers, DLQ requeues and cancels.';

-- Audit retention. The maintenance leader deletes audit rows past their retention in small batches.
-- It runs as a worker role, which may only INSERT into the audit log; this SECURITY DEFINER function
-- is the one way it deletes, and it never deletes the latest day, so credentials that leak cannot
-- erase the record of what was just done with them.
create or replace function pgtide.prune_audit(older_than interval, batch_size int) returns bigint
language plpgsql volatile security definer set search_path = pg_catalog, pgtide as $$
declare
    deleted bigint;
begin
    if older_than is null or older_than < interval '1 day' then
        perform pgtide.invalid_input('pgtide.prune_audit', 'older_than', older_than::text,
            'an interval of at least 1 day (the latest day of the audit log is never pruned)');
    end if;
    if batch_size is null or batch_size < 1 then
        perform pgtide.invalid_input('pgtide.prune_audit', 'batch_size', batch_size::text,
            'an integer >= 1');
    end if;
    delete from pgtide.audit_log
     where id in (select a.id from pgtide.audit_log a
                   where a.at < now() - older_than
                   order by a.at
                   limit batch_size);
    get diagnostics deleted = row_count;
    return deleted;
end $$;

comment on function pgtide.prune_audit(interval, int) is
    'Deletes up to batch_size audit-log rows older than older_than (at least 1 day) and returns how '
    'many; the maintenance leader calls it with [maintenance] audit_retention.';

-- Role recipes: what an enqueuer, an operator and a worker role may do. grants.sql applies them again
-- to every role in pgtide.grants whenever this folder changes, so a recipe's role always has what
-- the recipe says today.
--
-- Applied by `pgtide migrate` whenever this file changes (see sql/schema/README.md).

create or replace function pgtide.grant(role_kind text, role_name text) returns text
language plpgsql volatile as $$
#variable_conflict use_variable
declare
    kind text := regexp_replace(lower(btrim(role_kind)), '^pgtide_', '');
    r text := role_name;
    enqueue_fns text := 'pgtide.enqueue(text, jsonb, text, timestamptz, text, int, int, text, interval, '
        'interval, interval, text), pgtide.check_policy(text, text, text, int, int, text, interval, interval, '
        'interval), pgtide.check_payload(text, jsonb), pgtide.invalid_input(text, text, text, text), '
        'pgtide.check_concurrency_key(text, text), pgtide.notify_queue(text), '
        'pgtide.enqueue_many(jsonb), pgtide.job_spec_is_valid(jsonb), pgtide.check_job_spec(text, jsonb), '
        'pgtide.job_spec_timestamp_ok(text), pgtide.job_spec_interval(jsonb), '
        'pgtide.job_spec_interval_ok(jsonb, boolean), pgtide.job_spec_fields(jsonb)';
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
            'retry_strategy, retry_base, retry_max, timeout, idempotency_key, visible_at, '
            'concurrency_key) on pgtide.executions to %I', r);
        execute format('grant select (id, idempotency_key, queue, handler, status, attempt, '
            'max_attempts, visible_at, started_at, finished_at, created_at) on pgtide.executions to %I', r);
    elsif kind = 'operator' then
        execute format('grant execute on all functions in schema pgtide to %I', r);
        execute format('revoke execute on function pgtide.grant(text, text) from %I', r);
        execute format('grant select, insert, update, delete on pgtide.tasks, pgtide.executions, '
            'pgtide.queues, pgtide.key_limits, pgtide.key_cursors, pgtide.rate_windows to %I', r);
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
            'pgtide.release(text, bigint[], int[]), pgtide.complete(text, bigint[], int[], jsonb[], bigint[], int[], text[], boolean[]), '
            'pgtide.claim_keys(text, int), pgtide.rate_room(text, text, int, interval), '
            'pgtide.record_starts(bigint[], timestamptz), pgtide.rate_wait(text[]) to %I',
            enqueue_fns, r);
        execute format('grant select, insert, update, delete on pgtide.executions, pgtide.leader, '
            'pgtide.workers to %I', r);
        execute format('grant select, update on pgtide.tasks to %I', r);
        execute format('grant select on pgtide.queues, pgtide.key_limits, pgtide.refinery_schema_history, '
            'pgtide.schema_files to %I', r);
        -- Fair and rate-limited claims keep their round-robin cursor and their log of starts.
        execute format('grant select, insert, update on pgtide.key_cursors to %I', r);
        -- The leader also deletes stale logs (the history pruner).
        execute format('grant select, insert, update, delete on pgtide.rate_windows to %I', r);
        -- SELECT ... FOR UPDATE (pgtide.claim_ids serializes claims of a limited queue) needs UPDATE
        -- on some column; updated_at is the harmless one.
        execute format('grant update (updated_at) on pgtide.queues to %I', r);
        execute format('grant insert on pgtide.audit_log to %I', r);
        -- The leader evaluates alert rules and delivers their webhooks.
        execute format('grant select, insert, update, delete on pgtide.alert_events, '
            'pgtide.alert_deliveries to %I', r);
        execute format('grant select on pgtide.alerts, pgtide.dead_letters to %I', r);
        -- The leader prunes the audit log through a function, never with DELETE of its own.
        execute format('grant execute on function pgtide.prune_audit(interval, int) to %I', r);
    end if;
    insert into pgtide.grants (role_name, role_kind) values (r, kind)
    on conflict on constraint grants_pkey do update
       set role_kind = excluded.role_kind, granted_at = now(), granted_by = current_user;
    return kind;
end $$;

comment on function pgtide.grant(text, text) is
    'Applies a role recipe: grant(''enqueuer''|''operator''|''worker'', role_name). See docs/security.md.';

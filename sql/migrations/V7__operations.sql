-- Operations: cron errors in the user's own terms, and retention for the audit log.

-- ---------------------------------------------------------------------------------------------------
-- Cron fields. A task whose cron the scheduler cannot read becomes invalid with last_error; SQL now
-- refuses the same expressions up front, field by field, with the wording the scheduler uses:
-- which field, what it holds, and what it accepts, on one line.
-- ---------------------------------------------------------------------------------------------------

-- One field of a cron expression: a comma list of *, ? (when any_ok), a value, a range a-b, each
-- with an optional /step. Values are lo..hi, or names (the first stands for first_name_value).
create function pgtide.check_cron_field(
    fn text, cron text, field_name text, field text, lo int, hi int,
    names text[] default '{}', first_name_value int default 0, any_ok boolean default false
) returns void language plpgsql immutable as $$
declare
    item text;
    span text;
    step text;
    ends text[];
    bounds text := lo || '-' || hi
        || case when field_name = 'day-of-week' then ' (0 and 7 are Sunday)' else '' end
        || case when cardinality(names) > 0
                then format(' or a name %s-%s', names[1], names[cardinality(names)]) else '' end;
    why text;
    v int;
    prev int;
begin
    foreach item in array string_to_array(field, ',') loop
        why := null;
        span := split_part(item, '/', 1);
        step := case when position('/' in item) > 0 then substr(item, position('/' in item) + 1) end;
        if step is not null and (step !~ '^[0-9]{1,9}$' or step::int < 1) then
            why := 'must have a step of 1 or more after /';
        elsif span = '*' or (any_ok and span = '?') then
            continue;
        else
            ends := string_to_array(span, '-');
            prev := null;
            if cardinality(ends) not in (1, 2) then
                why := 'must be ' || bounds;
            else
                foreach span in array ends loop
                    v := case
                        when lower(span) = any (names)
                            then first_name_value + array_position(names, lower(span)) - 1
                        when span ~ '^[0-9]{1,9}$' and span::int between lo and hi then span::int
                    end;
                    if v is null then
                        why := 'must be ' || bounds;
                        exit;
                    end if;
                    if prev is not null and prev > v then
                        why := format('must have ranges that run upwards (%s runs down)',
                                      array_to_string(ends, '-'));
                        exit;
                    end if;
                    prev := v;
                end loop;
            end if;
        end if;
        if why is not null then
            perform pgtide.invalid_input(fn, 'cron', cron,
                format('the %s field to be valid: it %s, but it is "%s" (a field is a number, *, a '
                       'list 1,15, a range 1-5 or a step */15)', field_name, why, field));
        end if;
    end loop;
end $$;

comment on function pgtide.check_cron_field(text, text, text, text, int, int, text[], int, boolean) is
    'Internal: checks one field of a cron expression and raises naming the field, its text and its bounds.';

create or replace function pgtide.check_schedule(
    fn text, cron text, every interval, run_at timestamptz, timezone text
) returns void language plpgsql stable as $$
declare
    fields text[];
    rest int;
begin
    if num_nonnulls(cron, every, run_at) <> 1 then
        perform pgtide.invalid_input(fn, 'schedule',
            format('cron=%s every=%s run_at=%s', coalesce(cron, 'NULL'), coalesce(every::text, 'NULL'),
                   coalesce(run_at::text, 'NULL')),
            'exactly one of cron, every or run_at');
    end if;
    if cron is not null then
        if btrim(cron) like '@%' then
            if btrim(cron) !~ '^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$' then
                perform pgtide.invalid_input(fn, 'cron', cron,
                    'an alias of @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly');
            end if;
        else
            fields := regexp_split_to_array(btrim(cron), '\s+');
            if cardinality(fields) not in (5, 6) then
                perform pgtide.invalid_input(fn, 'cron', cron,
                    format('5 fields (minute hour day month weekday), 6 with leading seconds, or an '
                           '@alias; got %s field(s)', cardinality(fields)));
            end if;
            if cron ~ '[LW#]' then
                perform pgtide.invalid_input(fn, 'cron', cron,
                    'crontab syntax, which has no L, W or # (those are Quartz extensions)');
            end if;
            if cardinality(fields) = 6 then
                perform pgtide.check_cron_field(fn, cron, 'second', fields[1], 0, 59);
            end if;
            rest := cardinality(fields) - 5;
            perform pgtide.check_cron_field(fn, cron, 'minute', fields[rest + 1], 0, 59);
            perform pgtide.check_cron_field(fn, cron, 'hour', fields[rest + 2], 0, 23);
            perform pgtide.check_cron_field(fn, cron, 'day-of-month', fields[rest + 3], 1, 31,
                any_ok => true);
            perform pgtide.check_cron_field(fn, cron, 'month', fields[rest + 4], 1, 12,
                '{jan,feb,mar,apr,may,jun,jul,aug,sep,oct,nov,dec}', 1);
            perform pgtide.check_cron_field(fn, cron, 'day-of-week', fields[rest + 5], 0, 7,
                '{sun,mon,tue,wed,thu,fri,sat}', 0, true);
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
    'Validates a task schedule: exactly one kind, every cron field against its bounds, a positive every, '
    'a known zone.';

-- ---------------------------------------------------------------------------------------------------
-- Audit retention. The maintenance leader deletes audit rows past their retention in small batches.
-- It runs as a worker role, which may only INSERT into the audit log; this SECURITY DEFINER function
-- is the one way it deletes, and it never deletes the latest day, so credentials that leak cannot
-- erase the record of what was just done with them.
-- ---------------------------------------------------------------------------------------------------

create function pgtide.prune_audit(older_than interval, batch_size int) returns bigint
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

-- The worker role recipe gains pgtide.prune_audit.
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

-- ---------------------------------------------------------------------------------------------------
-- Roles granted before this migration get its new functions (an operator may call every function).
-- ---------------------------------------------------------------------------------------------------

do $$
declare
    g record;
begin
    for g in select role_name, role_kind from pgtide.grants loop
        if exists (select 1 from pg_roles where rolname = g.role_name) then
            perform pgtide.grant(g.role_kind, g.role_name);
        end if;
    end loop;
end $$;

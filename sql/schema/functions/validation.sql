-- Input validation. Every error names the function, the field, the value and what was expected, and is
-- raised before anything is written. The field is also in the error's COLUMN, so a client (the HTTP
-- API) can name it without parsing the message, and a missing object gets its own SQLSTATE
-- (no_data_found, P0002) so it can answer 404 instead of 400.
--
-- Applied by `pgtide migrate` whenever this file changes (see sql/schema/README.md).

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

-- The policy fields that tasks and ad-hoc jobs share.
create or replace function pgtide.check_policy(
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

create or replace function pgtide.check_payload(fn text, payload jsonb) returns void
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

create or replace function pgtide.check_queue(fn text, queue text) returns void
language plpgsql volatile as $$
begin
    if queue is null or btrim(queue) = '' then
        perform pgtide.invalid_input(fn, 'queue', queue, 'a non-empty queue name');
    end if;
    if length(queue) > 200 then
        perform pgtide.invalid_input(fn, 'queue', left(queue, 40) || '...', 'at most 200 characters');
    end if;
end $$;

comment on function pgtide.check_queue(text, text) is 'Internal: validates a queue name; raises on bad input.';

-- NULL is no key. A key is compared as it is (no trimming): 'acme' and 'Acme' are two tenants.
create or replace function pgtide.check_concurrency_key(fn text, concurrency_key text) returns void
language plpgsql volatile as $$
begin
    if concurrency_key = '' then
        perform pgtide.invalid_input(fn, 'concurrency_key', concurrency_key,
            'NULL (no key) or a non-empty key');
    end if;
    if length(concurrency_key) > 200 then
        perform pgtide.invalid_input(fn, 'concurrency_key', left(concurrency_key, 40) || '...',
            'at most 200 characters');
    end if;
end $$;

comment on function pgtide.check_concurrency_key(text, text) is
    'Internal: validates a concurrency key (NULL, or 1 to 200 characters); raises on bad input.';

-- One field of a cron expression: a comma list of *, ? (when any_ok), a value, a range a-b, each
-- with an optional /step. Values are lo..hi, or names (the first stands for first_name_value).
create or replace function pgtide.check_cron_field(
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

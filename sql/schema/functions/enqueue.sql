-- Enqueue: the one function most users call to add a job.
--
-- Applied by `pgtide migrate` whenever this file changes (see sql/schema/README.md).

create or replace function pgtide.enqueue(
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
    timeout interval default '5 minutes',
    concurrency_key text default null
) returns bigint language plpgsql volatile as $$
#variable_conflict use_column
declare
    new_id bigint;
begin
    -- Most calls are valid: one expression decides that, and only a call that fails it runs the
    -- checks that name the bad field. (Each checking function called is a few microseconds on a
    -- path that costs about a hundred.)
    if not coalesce(
           btrim(enqueue.handler) <> '' and length(enqueue.handler) <= 200
           and btrim(enqueue.queue) <> '' and length(enqueue.queue) <= 200
           and enqueue.priority between -32768 and 32767
           and enqueue.max_attempts >= 1
           and enqueue.retry_strategy in ('fixed', 'exponential')
           and enqueue.retry_base >= interval '0'
           and enqueue.retry_max >= interval '0'
           and enqueue.timeout > interval '0'
           and (enqueue.payload is null or octet_length(enqueue.payload::text) <= 1048576)
           and (enqueue.idempotency_key is null or enqueue.idempotency_key <> '')
           and (enqueue.concurrency_key is null
                or (enqueue.concurrency_key <> '' and length(enqueue.concurrency_key) <= 200)),
           false) then
        perform pgtide.check_policy('pgtide.enqueue', enqueue.handler, enqueue.queue,
            enqueue.priority, enqueue.max_attempts, enqueue.retry_strategy, enqueue.retry_base,
            enqueue.retry_max, enqueue.timeout);
        perform pgtide.check_payload('pgtide.enqueue', enqueue.payload);
        perform pgtide.check_concurrency_key('pgtide.enqueue', enqueue.concurrency_key);
        perform pgtide.invalid_input('pgtide.enqueue', 'idempotency_key', '',
            'NULL (a generated key) or a non-empty key');
    end if;

    -- This function wakes the queue's workers itself, once per transaction, so the insert
    -- trigger that does it for other inserts (a statement-level trigger: on a one-row insert
    -- it cost more than the rest of the call) steps aside for this statement.
    perform set_config('pgtide.enqueueing', 'on', true);
    insert into pgtide.executions (
        handler, payload, queue, priority, status, max_attempts, retry_strategy, retry_base,
        retry_max, timeout, idempotency_key, visible_at, concurrency_key)
    values (
        enqueue.handler, coalesce(enqueue.payload, '{}'), enqueue.queue, enqueue.priority,
        case when enqueue.run_at > now() then 'scheduled' else 'queued' end::pgtide.execution_status,
        enqueue.max_attempts, enqueue.retry_strategy, enqueue.retry_base, enqueue.retry_max,
        enqueue.timeout, coalesce(enqueue.idempotency_key, gen_random_uuid()::text),
        greatest(coalesce(enqueue.run_at, now()), now()), enqueue.concurrency_key)
    on conflict (idempotency_key) do nothing
    returning id into new_id;
    perform set_config('pgtide.enqueueing', 'off', true);

    if new_id is null then
        select e.id into new_id from pgtide.executions e
         where e.idempotency_key = enqueue.idempotency_key;
    elsif coalesce(enqueue.run_at <= now(), true)
          and current_setting('pgtide.notified_queue', true) is distinct from enqueue.queue then
        -- Notifications are delivered at commit and Postgres folds duplicates, so one per queue and
        -- transaction is all a sleeping worker needs.
        perform pgtide.notify_queue(enqueue.queue);
        perform set_config('pgtide.notified_queue', enqueue.queue, true);
    end if;
    return new_id;
end $$;

comment on function pgtide.enqueue(text, jsonb, text, timestamptz, text, int, int, text, interval, interval, interval, text) is
    'Enqueues an ad-hoc job and returns its execution id. run_at in the future gives a scheduled row, '
    'otherwise queued. An existing idempotency_key returns the existing row''s id and inserts nothing. '
    'concurrency_key groups the job with others under a queue''s key limits (pgtide.set_key_limit).';

-- Bulk enqueue from SQL: many jobs in one statement, with pgtide.enqueue's rules and defaults.
--
-- pgtide.enqueue inserts one row per call, and every INSERT statement on pgtide.executions pays
-- fixed costs before its row is written (the executor's start, the table's CHECK constraints
-- compiled again, the triggers' setup): about half of a call (see docs/performance.md). One call
-- of enqueue_many pays them once for the whole batch. The jobs come as one JSON array, so any
-- driver can send a batch as one parameter, and psql can build one with jsonb_agg.
--
-- Each element is an object with pgtide.enqueue's parameter names; a field left out or JSON null
-- takes the same default. Intervals are a number of seconds or a duration such as '10 seconds' or
-- '5m'; run_at is an ISO 8601 timestamp ('2026-12-24T18:00:00Z'; without an offset it is read in
-- the session's time zone).

-- Whether a text is a timestamp a job's run_at may be: an ISO 8601 date, with a time and an offset
-- or not, and a day its month has. A text that passes is read by a cast that cannot fail.
create or replace function pgtide.job_spec_timestamp_ok(value text) returns boolean
language sql immutable parallel safe as $$
    select case when value ~ ('^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])'
                              '([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?)?'
                              '(Z|z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?$')
                then substr(value, 9, 2)::int
                     <= extract(day from make_date(substr(value, 1, 4)::int, substr(value, 6, 2)::int, 1)
                                         + interval '1 month' - interval '1 day')
                else false end
$$;

comment on function pgtide.job_spec_timestamp_ok(text) is
    'Internal (pgtide.enqueue_many): whether a text is a valid run_at (ISO 8601, a real day).';

-- An interval field's value: a number of seconds, or a duration text; NULL when absent.
create or replace function pgtide.job_spec_interval(value jsonb) returns interval
language sql stable parallel safe as $$
    select case jsonb_typeof(value)
               when 'number' then make_interval(secs => (value #>> '{}')::float8)
               when 'string' then (value #>> '{}')::interval
           end
$$;

comment on function pgtide.job_spec_interval(jsonb) is
    'Internal (pgtide.enqueue_many): a job''s interval field, from a number of seconds or a duration text.';

-- Whether a JSON value is a valid interval field: absent or null, a number of seconds (from 0 to
-- below 10^10), or a duration of one number and one unit; when positive is set, one that is more
-- than 0 once read (a microsecond or more).
create or replace function pgtide.job_spec_interval_ok(value jsonb, positive boolean) returns boolean
language sql stable parallel safe as $$
    select case coalesce(jsonb_typeof(value), 'null')
               when 'null' then true
               when 'number' then case when (value #>> '{}')::numeric >= 0
                                            and (value #>> '{}')::numeric < 10000000000
                                       then not (positive
                                                 and pgtide.job_spec_interval(value) <= interval '0')
                                       else false end
               when 'string' then case when (value #>> '{}') ~* ('^\s*[0-9]{1,9}(\.[0-9]{1,6})?\s*'
                                               '(ms|msecs?|milliseconds?|s|secs?|seconds?|m|mins?'
                                               '|minutes?|h|hrs?|hours?|d|days?)\s*$')
                                       then not (positive
                                                 and pgtide.job_spec_interval(value) <= interval '0')
                                       else false end
               else false end
$$;

comment on function pgtide.job_spec_interval_ok(jsonb, boolean) is
    'Internal (pgtide.enqueue_many): whether a JSON value is a valid interval field of a job.';

-- One job object read into typed fields, with pgtide.enqueue's defaults for the fields left out or
-- null: the one place that reads a job, for the insert and for the checks that name a bad field.
-- Only for an object whose fields have passed their pattern (its casts cannot fail then). The key
-- stays NULL when absent; the insert generates one. A SQL function of one SELECT, so the planner
-- inlines it into the statement that reads a batch.
create or replace function pgtide.job_spec_fields(job jsonb)
returns table (handler text, payload jsonb, queue text, run_at timestamptz, idempotency_key text,
               priority int, max_attempts int, retry_strategy text, retry_base interval,
               retry_max interval, timeout interval, concurrency_key text)
language sql stable parallel safe as $$
    select job ->> 'handler',
           coalesce(nullif(job -> 'payload', 'null'::jsonb), '{}'),
           coalesce(job ->> 'queue', 'default'),
           (job ->> 'run_at')::timestamptz,
           job ->> 'idempotency_key',
           coalesce((job ->> 'priority')::int, 0),
           coalesce((job ->> 'max_attempts')::int, 5),
           coalesce(job ->> 'retry_strategy', 'exponential'),
           coalesce(pgtide.job_spec_interval(job -> 'retry_base'), interval '10 seconds'),
           coalesce(pgtide.job_spec_interval(job -> 'retry_max'), interval '1 hour'),
           coalesce(pgtide.job_spec_interval(job -> 'timeout'), interval '5 minutes'),
           job ->> 'concurrency_key'
$$;

comment on function pgtide.job_spec_fields(jsonb) is
    'Internal (pgtide.enqueue_many): a checked job object''s fields, with pgtide.enqueue''s defaults.';

-- Whether one element is a valid job. A SQL function with one expression, so the planner inlines
-- it: checking a 1,000-job batch costs no function calls. Only a batch with an invalid element
-- runs pgtide.check_job_spec, which names the field. The two must agree; a CASE guards every cast.
create or replace function pgtide.job_spec_is_valid(job jsonb) returns boolean
language sql stable parallel safe as $$
    select case when jsonb_typeof(job) is distinct from 'object' then false else coalesce(
        (job - array['handler', 'payload', 'queue', 'run_at', 'idempotency_key', 'priority',
                     'max_attempts', 'retry_strategy', 'retry_base', 'retry_max', 'timeout',
                     'concurrency_key']) = '{}'::jsonb
        and jsonb_typeof(job -> 'handler') = 'string'
        and btrim(job ->> 'handler') <> '' and length(job ->> 'handler') <= 200
        and (job -> 'payload' is null
             or octet_length((job -> 'payload')::text) <= 1048576)
        and case coalesce(jsonb_typeof(job -> 'queue'), 'null')
                when 'null' then true
                when 'string' then btrim(job ->> 'queue') <> '' and length(job ->> 'queue') <= 200
                else false end
        and case coalesce(jsonb_typeof(job -> 'run_at'), 'null')
                when 'null' then true
                when 'string' then pgtide.job_spec_timestamp_ok(job ->> 'run_at')
                else false end
        and case coalesce(jsonb_typeof(job -> 'idempotency_key'), 'null')
                when 'null' then true
                when 'string' then job ->> 'idempotency_key' <> ''
                else false end
        and case coalesce(jsonb_typeof(job -> 'priority'), 'null')
                when 'null' then true
                when 'number' then case when (job ->> 'priority') ~ '^-?[0-9]{1,5}$'
                                        then (job ->> 'priority')::int between -32768 and 32767
                                        else false end
                else false end
        and case coalesce(jsonb_typeof(job -> 'max_attempts'), 'null')
                when 'null' then true
                when 'number' then case when (job ->> 'max_attempts') ~ '^[0-9]{1,9}$'
                                        then (job ->> 'max_attempts')::int >= 1
                                        else false end
                else false end
        and case coalesce(jsonb_typeof(job -> 'retry_strategy'), 'null')
                when 'null' then true
                when 'string' then job ->> 'retry_strategy' in ('fixed', 'exponential')
                else false end
        and pgtide.job_spec_interval_ok(job -> 'retry_base', false)
        and pgtide.job_spec_interval_ok(job -> 'retry_max', false)
        and pgtide.job_spec_interval_ok(job -> 'timeout', true)
        and case coalesce(jsonb_typeof(job -> 'concurrency_key'), 'null')
                when 'null' then true
                when 'string' then job ->> 'concurrency_key' <> ''
                                   and length(job ->> 'concurrency_key') <= 200
                else false end,
        false) end
$$;

comment on function pgtide.job_spec_is_valid(jsonb) is
    'Internal (pgtide.enqueue_many): whether a JSON job object is valid, without saying why; '
    'pgtide.check_job_spec names the problem.';

-- Raises the error that names what is wrong with one job of a batch: its position (from 0, as in
-- the JSON array), the field, the value and what was expected. The rules of each field are
-- pgtide.enqueue's, through the same checking functions.
create or replace function pgtide.check_job_spec(fn text, job jsonb) returns void
language plpgsql volatile as $$
declare
    known constant text[] := array['handler', 'payload', 'queue', 'run_at', 'idempotency_key',
        'priority', 'max_attempts', 'retry_strategy', 'retry_base', 'retry_max', 'timeout',
        'concurrency_key'];
    field text;
    kind text;
    fields record;
begin
    if jsonb_typeof(job) is distinct from 'object' then
        perform pgtide.invalid_input(fn, 'job', left(job::text, 40),
            'a JSON object with at least "handler"');
    end if;
    select k into field from jsonb_object_keys(job) k where k <> all (known) order by k limit 1;
    if found then
        perform pgtide.invalid_input(fn, 'field', field,
            'one of ' || array_to_string(known, ', '));
    end if;
    if jsonb_typeof(job -> 'handler') is distinct from 'string' then
        perform pgtide.invalid_input(fn, 'handler', job ->> 'handler', 'a non-empty handler name');
    end if;
    foreach field in array array['queue', 'run_at', 'idempotency_key', 'retry_strategy',
                                 'concurrency_key'] loop
        kind := coalesce(jsonb_typeof(job -> field), 'null');
        if kind not in ('null', 'string') then
            perform pgtide.invalid_input(fn, field, job ->> field, 'a JSON string or null');
        end if;
    end loop;
    if jsonb_typeof(job -> 'run_at') = 'string' and not pgtide.job_spec_timestamp_ok(job ->> 'run_at') then
        perform pgtide.invalid_input(fn, 'run_at', job ->> 'run_at',
            'an ISO 8601 timestamp such as ''2026-12-24T18:00:00Z''');
    end if;
    foreach field in array array['priority', 'max_attempts'] loop
        kind := coalesce(jsonb_typeof(job -> field), 'null');
        if kind not in ('null', 'number') or (job ->> field) !~ '^-?[0-9]{1,9}$' then
            perform pgtide.invalid_input(fn, field, job ->> field, case field
                when 'priority' then 'an integer from -32768 to 32767'
                else 'an integer >= 1' end);
        end if;
    end loop;
    foreach field in array array['retry_base', 'retry_max', 'timeout'] loop
        if not pgtide.job_spec_interval_ok(job -> field, false) then
            perform pgtide.invalid_input(fn, field, job ->> field,
                'a number of seconds from 0 to 9999999999, or a duration such as ''10 seconds'' '
                'or ''5m''');
        end if;
    end loop;
    select * into fields from pgtide.job_spec_fields(job);
    perform pgtide.check_policy(fn, fields.handler, fields.queue, fields.priority,
        fields.max_attempts, fields.retry_strategy, fields.retry_base, fields.retry_max,
        fields.timeout);
    perform pgtide.check_payload(fn, fields.payload);
    perform pgtide.check_concurrency_key(fn, fields.concurrency_key);
    if fields.idempotency_key = '' then
        perform pgtide.invalid_input(fn, 'idempotency_key', '',
            'null (a generated key) or a non-empty key');
    end if;
    -- pgtide.job_spec_is_valid refused it, so one of the checks above must have: a rule that is in
    -- one and not the other is a bug, and the batch must still be refused.
    perform pgtide.invalid_input(fn, 'job', left(job::text, 40), 'a valid job object');
end $$;

comment on function pgtide.check_job_spec(text, jsonb) is
    'Internal (pgtide.enqueue_many): raises the error naming what is wrong with one job object.';

create or replace function pgtide.enqueue_many(jobs jsonb) returns bigint[]
language plpgsql volatile as $$
declare
    bad record;
    ids bigint[];
begin
    if jsonb_typeof(enqueue_many.jobs) is distinct from 'array' then
        perform pgtide.invalid_input('pgtide.enqueue_many', 'jobs', left(enqueue_many.jobs::text, 40),
            'a JSON array of job objects');
    end if;
    select j.n, j.job into bad
      from jsonb_array_elements(enqueue_many.jobs) with ordinality as j(job, n)
     where not pgtide.job_spec_is_valid(j.job)
     order by j.n
     limit 1;
    if found then
        perform pgtide.check_job_spec(format('pgtide.enqueue_many: jobs[%s]', bad.n - 1), bad.job);
    end if;

    -- One INSERT for the batch. Its statement trigger wakes each queue that got due rows, once.
    -- Rows whose key exists already are not inserted and report the existing row's id; two elements
    -- with the same key get the one row.
    with input as materialized (
        select j.n, f.handler, f.payload, f.queue, f.run_at, f.priority, f.max_attempts,
               f.retry_strategy, f.retry_base, f.retry_max, f.timeout, f.concurrency_key,
               coalesce(f.idempotency_key, pgtide.uuid_v7()::text) as idempotency_key
          from jsonb_array_elements(enqueue_many.jobs) with ordinality as j(job, n)
         cross join lateral pgtide.job_spec_fields(j.job) as f
    ), inserted as (
        insert into pgtide.executions (
            handler, payload, queue, priority, status, max_attempts, retry_strategy, retry_base,
            retry_max, timeout, idempotency_key, visible_at, concurrency_key)
        select i.handler, i.payload, i.queue, i.priority::smallint,
               case when i.run_at > now() then 'scheduled' else 'queued' end::pgtide.execution_status,
               i.max_attempts, i.retry_strategy, i.retry_base, i.retry_max, i.timeout,
               i.idempotency_key, greatest(coalesce(i.run_at, now()), now()), i.concurrency_key
          from input i
         order by i.n
        on conflict (idempotency_key) do nothing
        returning executions.id, executions.idempotency_key
    )
    select array_agg(coalesce(ins.id, (select e.id from pgtide.executions e
                                        where e.idempotency_key = i.idempotency_key))
                     order by i.n)
      into ids
      from input i
      left join inserted ins on ins.idempotency_key = i.idempotency_key;
    -- A key that another transaction inserted after this statement's snapshot was taken: ON
    -- CONFLICT waited for that transaction, and a new statement's snapshot sees its row.
    if array_position(ids, null) is not null then
        select array_agg(coalesce(x.id, (select e.id from pgtide.executions e
                                          where e.idempotency_key = enqueue_many.jobs
                                                -> (x.n::int - 1) ->> 'idempotency_key'))
                         order by x.n)
          into ids
          from unnest(ids) with ordinality as x(id, n);
    end if;
    return coalesce(ids, '{}');
end $$;

comment on function pgtide.enqueue_many(jsonb) is
    'Enqueues a JSON array of jobs in one statement and returns their ids in input order. Each element '
    'is an object with pgtide.enqueue''s parameter names (handler required; the rest take enqueue''s '
    'defaults); intervals are seconds or a duration text such as ''10 seconds''. A known '
    'idempotency_key gives the existing row''s id. One invalid job refuses the batch, naming its '
    'position and field.';

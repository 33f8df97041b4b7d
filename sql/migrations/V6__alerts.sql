-- Alerting and the console's charts.
--
-- The leader evaluates the alert rules of pgtide.toml and records each change of state here: a
-- 'firing' event when a rule starts to hold for a subject (a queue, a handler, a task), a 'resolved'
-- event when it stops. pgtide.alerts is what fires now. Webhook notifications are rows of
-- pgtide.alert_deliveries, written in the same transaction as their event, so a crash between the
-- event and the HTTP call loses no notification, and a retry is a row update, not a timer in memory.

create table pgtide.alert_events (
    id          bigint      generated always as identity primary key,
    rule        text        not null,
    kind        text        not null,
    subject     text        not null,
    state       text        not null check (state in ('firing', 'resolved')),
    value       double precision,
    message     text        not null,
    at          timestamptz not null default now(),
    -- For a resolved event: the firing event it ends.
    fired_id    bigint      references pgtide.alert_events (id) on delete set null
);

create index alert_events_subject_idx on pgtide.alert_events (rule, subject, id);
create index alert_events_at_idx on pgtide.alert_events (at);

-- What fires now: the subjects whose latest event is a firing.
create view pgtide.alerts as
select e.id, e.rule, e.kind, e.subject, e.value, e.message, e.at as since
  from (select distinct on (rule, subject) *
          from pgtide.alert_events
         order by rule, subject, id desc) e
 where e.state = 'firing';

create table pgtide.alert_deliveries (
    id               bigint      generated always as identity primary key,
    event_id         bigint      not null references pgtide.alert_events (id) on delete cascade,
    webhook          text        not null,
    status           text        not null default 'pending'
                                 check (status in ('pending', 'delivered', 'failed')),
    attempts         int         not null default 0,
    next_attempt_at  timestamptz not null default now(),
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz not null default now()
);

create index alert_deliveries_pending_idx on pgtide.alert_deliveries (next_attempt_at)
    where status = 'pending';
create index alert_deliveries_event_idx on pgtide.alert_deliveries (event_id);

comment on table pgtide.alert_events is
    'Alert state changes recorded by the maintenance leader: one firing and one resolved event per episode.';
comment on column pgtide.alert_events.id is 'Identity; ordered by time of recording.';
comment on column pgtide.alert_events.at is 'When the leader recorded the change (database clock).';
comment on column pgtide.alert_events.rule is 'The rule''s name in pgtide.toml ([[alerts.rules]] name).';
comment on column pgtide.alert_events.kind is
    'failure_rate, oldest_due, dead_letters, overdue_running, no_worker or task_invalid.';
comment on column pgtide.alert_events.subject is 'What the rule holds for: a queue, a handler or a task name.';
comment on column pgtide.alert_events.state is 'firing or resolved.';
comment on column pgtide.alert_events.value is 'The measured value when the event was recorded (rate in %, age in s, count).';
comment on column pgtide.alert_events.message is 'One line for people: what holds, how much, against which threshold.';
comment on column pgtide.alert_events.fired_id is 'For a resolved event, the firing event it ends.';
comment on view pgtide.alerts is 'Alerts firing now: the subjects whose latest event is a firing.';
comment on column pgtide.alerts.id is 'The firing event.';
comment on column pgtide.alerts.rule is 'The rule''s name in pgtide.toml.';
comment on column pgtide.alerts.kind is 'The rule''s kind.';
comment on column pgtide.alerts.subject is 'A queue, a handler or a task name.';
comment on column pgtide.alerts.value is 'The value measured when it fired.';
comment on column pgtide.alerts.message is 'One line for people.';
comment on column pgtide.alerts.since is 'When it started firing.';
comment on table pgtide.alert_deliveries is
    'Webhook notifications of alert events, with their retries; the leader sends the pending ones.';
comment on column pgtide.alert_deliveries.id is 'Identity.';
comment on column pgtide.alert_deliveries.event_id is 'The alert event to send.';
comment on column pgtide.alert_deliveries.attempts is 'HTTP attempts made so far.';
comment on column pgtide.alert_deliveries.next_attempt_at is 'When the next attempt is due (backoff after a failure).';
comment on column pgtide.alert_deliveries.last_error is 'Why the latest attempt failed.';
comment on column pgtide.alert_deliveries.delivered_at is 'When a 2xx answer arrived.';
comment on column pgtide.alert_deliveries.created_at is 'When the event was recorded.';
comment on column pgtide.alert_deliveries.webhook is 'The webhook''s name in pgtide.toml ([[alerts.webhooks]] name).';
comment on column pgtide.alert_deliveries.status is 'pending (to send or retry), delivered, or failed (attempts exhausted).';

-- Attempts finished per queue and minute, for the console's charts and its hourly rates: succeeded,
-- and failed (failed or dead). Reads the finished-rows index, so it stays cheap on a long history.
create function pgtide.queue_minutes(since interval default interval '1 hour')
returns table (queue text, minute timestamptz, succeeded bigint, failed bigint)
language sql stable as $$
    select e.queue, date_trunc('minute', e.finished_at) as minute,
           count(*) filter (where e.status = 'succeeded') as succeeded,
           count(*) filter (where e.status in ('failed', 'dead')) as failed
      from pgtide.executions e
     where e.finished_at > now() - since
       and e.status in ('succeeded', 'failed', 'dead', 'cancelled')
     group by 1, 2
$$;

comment on function pgtide.queue_minutes(interval) is
    'Attempts finished per queue and minute since now() - since: succeeded, and failed (failed or dead).';

-- ---------------------------------------------------------------------------------------------------
-- The worker role recipe gains the alert tables (the leader evaluates rules); roles that already
-- have it get them now.
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
        -- The leader evaluates alert rules and delivers their webhooks.
        execute format('grant select, insert, update, delete on pgtide.alert_events, '
            'pgtide.alert_deliveries to %I', r);
        execute format('grant select on pgtide.alerts, pgtide.dead_letters to %I', r);
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
    -- Operators read every table; give them the new ones.
    for r in select role_name from pgtide.grants where role_kind = 'operator' loop
        if exists (select 1 from pg_roles where rolname = r) then
            perform pgtide.grant('operator', r);
        end if;
    end loop;
end $$;

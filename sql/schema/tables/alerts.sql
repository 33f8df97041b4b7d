-- Alerting. The leader evaluates the alert rules of pgtide.toml and records each change of state here: a
-- 'firing' event when a rule starts to hold for a subject (a queue, a handler, a task), a 'resolved'
-- event when it stops. Webhook notifications are rows of pgtide.alert_deliveries, written in the same
-- transaction as their event, so a crash between the event and the HTTP call loses no notification,
-- and a retry is a row update, not a timer in memory.
--
-- The current shape of these tables. `pgtide migrate` does not run this file: the tables are made by
-- the migrations in sql/migrations/ (a baseline, then deltas), and a test checks that they build
-- exactly this. A change here is a change there too (see sql/schema/README.md).

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

create index alert_events_subject_idx on pgtide.alert_events (rule, subject, id);
create index alert_events_at_idx on pgtide.alert_events (at);

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

create index alert_deliveries_pending_idx on pgtide.alert_deliveries (next_attempt_at)
    where status = 'pending';
create index alert_deliveries_event_idx on pgtide.alert_deliveries (event_id);

-- Views for operators: what psql, the CLI, the HTTP API and the console read.
--
-- Applied by `pgtide migrate` whenever this file changes (see sql/schema/README.md).

create or replace view pgtide.dead_letters as
select e.*
  from pgtide.executions e
 where e.status = 'dead'
   and not exists (select 1 from pgtide.executions r
                    where r.idempotency_key = e.idempotency_key || ':requeued');

comment on view pgtide.dead_letters is
    'The dead-letter queue: dead executions not yet requeued with pgtide.retry_dead.';

create or replace view pgtide.queue_stats as
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

create or replace view pgtide.task_overview as
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

-- Every queue that has jobs or settings, with its settings beside queue_stats' counts.
create or replace view pgtide.queue_overview as
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
       coalesce(s.failure_rate_5m, 0) as failure_rate_5m,
       q.key_concurrency_limit,
       (select count(*) from pgtide.key_limits kl where kl.queue = coalesce(s.queue, q.name))
           as key_limit_overrides,
       q.rate_max_starts,
       q.rate_per,
       coalesce(q.rate_per_key, false) as rate_per_key
  from pgtide.queue_stats s
  full join pgtide.queues q on q.name = s.queue;

comment on view pgtide.queue_overview is 'Every queue with jobs or settings: paused, limit, and queue_stats'' counts.';
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
comment on column pgtide.queue_overview.key_concurrency_limit is 'Running-row cap of each concurrency key; NULL for none.';
comment on column pgtide.queue_overview.key_limit_overrides is 'How many keys have a cap of their own (pgtide.key_limits).';
comment on column pgtide.queue_overview.rate_max_starts is 'Most starts per rate_per window; NULL for no rate limit.';
comment on column pgtide.queue_overview.rate_per is 'The rate limit''s window.';
comment on column pgtide.queue_overview.rate_per_key is 'Whether the rate limit applies per concurrency key.';

-- Who is waiting in a shared queue: one row per queue and key with due or running rows, or with a cap
-- of its own. Reads the due and running rows only.
create or replace view pgtide.key_stats as
select coalesce(a.queue, kl.queue) as queue,
       coalesce(a.concurrency_key, kl.concurrency_key) as concurrency_key,
       coalesce(a.queued, 0) as queued,
       coalesce(a.running, 0) as running,
       a.oldest_due_age,
       coalesce(kl.concurrency_limit, q.key_concurrency_limit) as concurrency_limit
  from (select e.queue, e.concurrency_key,
               count(*) filter (where e.status = 'queued') as queued,
               count(*) filter (where e.status = 'running') as running,
               now() - min(e.visible_at) filter (where e.status = 'queued') as oldest_due_age
          from pgtide.executions e
         where e.status in ('queued', 'running')
         group by e.queue, e.concurrency_key) a
  full join pgtide.key_limits kl on kl.queue = a.queue and kl.concurrency_key = a.concurrency_key
  left join pgtide.queues q on q.name = coalesce(a.queue, kl.queue);

comment on view pgtide.key_stats is
    'Per queue and concurrency key with due or running rows (or a cap of its own): how many wait, how '
    'many run, how long the oldest has waited, and the cap that applies. NULL key: jobs without one.';
comment on column pgtide.key_stats.queue is 'Queue name.';
comment on column pgtide.key_stats.concurrency_key is 'The key; NULL for jobs without one.';
comment on column pgtide.key_stats.queued is 'Due rows of the key waiting for a worker.';
comment on column pgtide.key_stats.running is 'Rows of the key claimed by a worker.';
comment on column pgtide.key_stats.oldest_due_age is 'How long the key''s oldest due row has waited.';
comment on column pgtide.key_stats.concurrency_limit is 'The cap that applies: the key''s own, else the queue''s key limit; NULL for none.';

-- What fires now: the subjects whose latest event is a firing.
create or replace view pgtide.alerts as
select e.id, e.rule, e.kind, e.subject, e.value, e.message, e.at as since
  from (select distinct on (rule, subject) *
          from pgtide.alert_events
         order by rule, subject, id desc) e
 where e.state = 'firing';

comment on view pgtide.alerts is 'Alerts firing now: the subjects whose latest event is a firing.';
comment on column pgtide.alerts.id is 'The firing event.';
comment on column pgtide.alerts.rule is 'The rule''s name in pgtide.toml.';
comment on column pgtide.alerts.kind is 'The rule''s kind.';
comment on column pgtide.alerts.subject is 'A queue, a handler or a task name.';
comment on column pgtide.alerts.value is 'The value measured when it fired.';
comment on column pgtide.alerts.message is 'One line for people.';
comment on column pgtide.alerts.since is 'When it started firing.';

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

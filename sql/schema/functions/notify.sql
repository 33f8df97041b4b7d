-- Notifications: the triggers' functions that wake sleeping workers and schedulers.
--
-- Applied by `pgtide migrate` whenever this file changes (see sql/schema/README.md).

-- NOTIFY pgtide_jobs with the queue's name, unless the queue's head has waited more than 50 ms: then
-- its workers are busy (or absent, or it is paused, and resuming notifies) and need no wake-up, and
-- the enqueuer skips the database-wide lock a notifying transaction holds at commit, so busy
-- enqueuers share WAL flushes instead of committing one after another.
-- SECURITY DEFINER: the head check reads columns (priority) that an enqueuer role may not select.
create or replace function pgtide.notify_queue(queue text) returns void language sql
security definer set search_path = pg_catalog, pgtide as $$
    select pg_notify('pgtide_jobs', notify_queue.queue)
     where coalesce((select h.visible_at
                       from pgtide.executions h
                      where h.status = 'queued' and h.queue = notify_queue.queue
                      order by h.priority, h.visible_at, h.id
                      limit 1) >= now() - interval '50 milliseconds', true)
$$;

comment on function pgtide.notify_queue(text) is
    'NOTIFY pgtide_jobs with the queue name, unless the queue''s head has waited more than 50 ms '
    'already (its workers are busy and need no wake-up).';

-- One notification per queue that got due rows in a statement (pgtide.enqueue notifies for itself).
-- SECURITY DEFINER: any role that may insert rows wakes the workers, whatever functions it may call.
create or replace function pgtide.notify_jobs() returns trigger language plpgsql
security definer set search_path = pg_catalog, pgtide as $$
begin
    perform pgtide.notify_queue(q.queue)
       from (select distinct n.queue from new_rows n where n.status = 'queued') q;
    return null;
end $$;

comment on function pgtide.notify_jobs() is
    'Trigger: pgtide.notify_queue for every queue that got due rows in a statement.';

-- Wakes schedulers when a task is created, deleted, or its schedule or status changes. The scheduler's
-- own next_run_at/last_run_at bookkeeping does not notify, so instances don't wake each other up.
create or replace function pgtide.notify_tasks() returns trigger language plpgsql as $$
begin
    perform pg_notify('pgtide_tasks', coalesce(new.id, old.id)::text);
    return null;
end $$;

comment on function pgtide.notify_tasks() is 'Trigger: NOTIFY pgtide_tasks when a task is created, deleted or re-planned.';

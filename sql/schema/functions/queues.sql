-- Queues. A queue exists implicitly as soon as a job names it; a row of pgtide.queues only records
-- settings.
--
-- Applied by `pgtide migrate` whenever this file changes (see sql/schema/README.md).

create or replace function pgtide.pause_queue(queue text) returns void
language plpgsql volatile as $$
begin
    perform pgtide.check_queue('pgtide.pause_queue', pause_queue.queue);
    insert into pgtide.queues as q (name, paused, paused_at)
    values (pause_queue.queue, true, now())
    on conflict (name) do update
       set paused = true, paused_at = now(), updated_at = now()
     where not q.paused;
end $$;

comment on function pgtide.pause_queue(text) is
    'Pauses a queue: workers stop claiming from it at their next claim; running jobs finish. Idempotent.';

create or replace function pgtide.resume_queue(queue text) returns void
language plpgsql volatile as $$
begin
    perform pgtide.check_queue('pgtide.resume_queue', resume_queue.queue);
    update pgtide.queues q
       set paused = false, paused_at = null, updated_at = now()
     where q.name = resume_queue.queue and q.paused;
    -- Idle workers sleep until a notification; wake them for the jobs that waited.
    perform pg_notify('pgtide_jobs', resume_queue.queue);
end $$;

comment on function pgtide.resume_queue(text) is 'Resumes a paused queue and wakes idle workers. Idempotent.';

create or replace function pgtide.set_queue_limit(queue text, concurrency_limit int) returns void
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

comment on function pgtide.set_queue_limit(text, int) is
    'Caps running rows of a queue across all workers together; NULL removes the cap.';

-- Attempts finished per queue and minute, for the console's charts and its hourly rates: succeeded,
-- and failed (failed or dead). Reads the finished-rows index, so it stays cheap on a long history.
create or replace function pgtide.queue_minutes(since interval default interval '1 hour')
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

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

-- Without a key: the default cap of every key of the queue (jobs without a key count as one key).
-- With a key: that key's own cap, over the default. A queue with any key limit is dispatched
-- round-robin across keys (see fair_claim.sql).
create or replace function pgtide.set_key_limit(queue text, concurrency_limit int,
                                                concurrency_key text default null) returns void
language plpgsql volatile as $$
#variable_conflict use_variable
begin
    perform pgtide.check_queue('pgtide.set_key_limit', queue);
    perform pgtide.check_concurrency_key('pgtide.set_key_limit', concurrency_key);
    if concurrency_limit < 1 then
        perform pgtide.invalid_input('pgtide.set_key_limit', 'concurrency_limit',
            concurrency_limit::text, 'NULL (no limit) or an integer >= 1');
    end if;
    -- The settings row exists whatever is set: claims find the queue's limits through it.
    insert into pgtide.queues as q (name) values (queue) on conflict (name) do nothing;
    if concurrency_key is null then
        update pgtide.queues q
           set key_concurrency_limit = concurrency_limit, updated_at = now()
         where q.name = queue and q.key_concurrency_limit is distinct from concurrency_limit;
    elsif concurrency_limit is null then
        delete from pgtide.key_limits kl where kl.queue = queue and kl.concurrency_key = concurrency_key;
    else
        insert into pgtide.key_limits as kl (queue, concurrency_key, concurrency_limit)
        values (queue, concurrency_key, concurrency_limit)
        on conflict on constraint key_limits_pkey do update
           set concurrency_limit = excluded.concurrency_limit, updated_at = now()
         where kl.concurrency_limit is distinct from excluded.concurrency_limit;
    end if;
    -- A raised or removed limit makes room: wake idle workers.
    perform pg_notify('pgtide_jobs', queue);
end $$;

comment on function pgtide.set_key_limit(text, int, text) is
    'Caps running rows per concurrency key of a queue across all workers: without a key, every key''s '
    'default (jobs without a key count as one key); with one, that key''s override. NULL removes the '
    'limit. A queue with a key limit dispatches round-robin across keys.';

-- A sliding window: at most max_starts claims in any span of `per`, counted across all workers.
create or replace function pgtide.set_rate_limit(queue text, max_starts int, per interval,
                                                 per_key boolean default false) returns void
language plpgsql volatile as $$
#variable_conflict use_variable
begin
    perform pgtide.check_queue('pgtide.set_rate_limit', queue);
    if max_starts < 1 then
        perform pgtide.invalid_input('pgtide.set_rate_limit', 'max_starts', max_starts::text,
            'NULL (no limit) or an integer >= 1');
    end if;
    if max_starts is not null and (per is null or per <= interval '0') then
        perform pgtide.invalid_input('pgtide.set_rate_limit', 'per', per::text, 'an interval > 0');
    end if;
    if per_key is null then
        perform pgtide.invalid_input('pgtide.set_rate_limit', 'per_key', null, 'true or false');
    end if;
    insert into pgtide.queues as q (name) values (queue) on conflict (name) do nothing;
    update pgtide.queues q
       set rate_max_starts = max_starts,
           rate_per = case when max_starts is null then null else per end,
           rate_per_key = max_starts is not null and per_key,
           updated_at = now()
     where q.name = queue
       and (q.rate_max_starts, q.rate_per, q.rate_per_key) is distinct from
           (max_starts, case when max_starts is null then null else per end,
            max_starts is not null and per_key);
    if found then
        -- The log counted starts for the old shape of the limit (the queue or its keys).
        delete from pgtide.rate_windows w where w.queue = queue;
    end if;
    perform pg_notify('pgtide_jobs', queue);
end $$;

comment on function pgtide.set_rate_limit(text, int, interval, boolean) is
    'Allows at most max_starts starts in any window of length per, in the queue or, with per_key, '
    'for each concurrency key; enforced across all workers. max_starts NULL removes the limit.';

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

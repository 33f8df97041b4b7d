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

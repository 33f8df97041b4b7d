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
    timeout interval default '5 minutes'
) returns bigint language plpgsql volatile as $$
#variable_conflict use_column
declare
    new_id bigint;
begin
    perform pgtide.check_policy('pgtide.enqueue', enqueue.handler, enqueue.queue, enqueue.priority,
        enqueue.max_attempts, enqueue.retry_strategy, enqueue.retry_base, enqueue.retry_max,
        enqueue.timeout);
    perform pgtide.check_payload('pgtide.enqueue', enqueue.payload);
    if enqueue.idempotency_key = '' then
        perform pgtide.invalid_input('pgtide.enqueue', 'idempotency_key', '',
            'NULL (a generated key) or a non-empty key');
    end if;

    insert into pgtide.executions (
        handler, payload, queue, priority, status, max_attempts, retry_strategy, retry_base,
        retry_max, timeout, idempotency_key, visible_at)
    values (
        enqueue.handler, coalesce(enqueue.payload, '{}'), enqueue.queue, enqueue.priority,
        case when enqueue.run_at > now() then 'scheduled' else 'queued' end::pgtide.execution_status,
        enqueue.max_attempts, enqueue.retry_strategy, enqueue.retry_base, enqueue.retry_max,
        enqueue.timeout, coalesce(enqueue.idempotency_key, gen_random_uuid()::text),
        greatest(coalesce(enqueue.run_at, now()), now()))
    on conflict (idempotency_key) do nothing
    returning id into new_id;

    if new_id is null then
        select e.id into new_id from pgtide.executions e
         where e.idempotency_key = enqueue.idempotency_key;
    end if;
    return new_id;
end $$;

comment on function pgtide.enqueue(text, jsonb, text, timestamptz, text, int, int, text, interval, interval, interval) is
    'Enqueues an ad-hoc job and returns its execution id. run_at in the future gives a scheduled row, '
    'otherwise queued. An existing idempotency_key returns the existing row''s id and inserts nothing.';

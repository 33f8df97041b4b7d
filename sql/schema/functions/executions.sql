-- Executions: requeue from the dead-letter queue, cancel, prune.
--
-- Applied by `pgtide migrate` whenever this file changes (see sql/schema/README.md).

create or replace function pgtide.retry_dead(execution_id bigint) returns bigint
language plpgsql volatile as $$
declare
    dead pgtide.executions;
    new_id bigint;
begin
    select * into dead from pgtide.executions e where e.id = execution_id;
    if not found then
        perform pgtide.invalid_input('pgtide.retry_dead', 'execution_id', execution_id::text,
            'the id of an existing execution');
    end if;
    if dead.status <> 'dead' then
        perform pgtide.invalid_input('pgtide.retry_dead', 'execution_id', execution_id::text,
            format('a dead execution (execution %s is %s)', execution_id, dead.status));
    end if;

    insert into pgtide.executions (
        task_id, task_name, queue, handler, payload, priority, status, attempt, max_attempts,
        retry_strategy, retry_base, retry_max, timeout, idempotency_key, retry_of, scheduled_for,
        concurrency_key)
    values (
        dead.task_id, dead.task_name, dead.queue, dead.handler, dead.payload, dead.priority, 'queued',
        1, dead.max_attempts, dead.retry_strategy, dead.retry_base, dead.retry_max, dead.timeout,
        dead.idempotency_key || ':requeued', dead.id, dead.scheduled_for, dead.concurrency_key)
    on conflict (idempotency_key) do nothing
    returning id into new_id;

    if new_id is null then
        select e.id into new_id from pgtide.executions e
         where e.idempotency_key = dead.idempotency_key || ':requeued';
    end if;
    return new_id;
end $$;

comment on function pgtide.retry_dead(bigint) is
    'Requeues a dead execution as a fresh attempt 1 with key "<dead key>:requeued" and returns its id. '
    'Idempotent: requeuing the same row again returns the same id.';

create or replace function pgtide.cancel(execution_id bigint) returns pgtide.execution_status
language plpgsql volatile as $$
declare
    before pgtide.execution_status;
begin
    select e.status into before from pgtide.executions e where e.id = execution_id for update;
    if not found then
        perform pgtide.invalid_input('pgtide.cancel', 'execution_id', execution_id::text,
            'the id of an existing execution');
    end if;
    if before = 'cancelled' then
        return before;
    end if;
    if before not in ('scheduled', 'queued', 'running') then
        perform pgtide.invalid_input('pgtide.cancel', 'execution_id', execution_id::text,
            format('a scheduled, queued or running execution (execution %s is %s)', execution_id, before));
    end if;
    -- A running row is cancelled too: the worker's completion is then refused by fencing, and its
    -- next heartbeat sees the lost lease and stops the handler.
    update pgtide.executions e
       set status = 'cancelled', finished_at = now(), lease_until = null,
           error = coalesce(e.error, format('cancelled by %s while %s', current_user, before))
     where e.id = execution_id;
    return before;
end $$;

comment on function pgtide.cancel(bigint) is
    'Cancels a scheduled, queued or running execution and returns the status it had. Cancelling a '
    'cancelled row is a no-op; a finished row raises an error.';

create or replace function pgtide.prune(
    older_than interval,
    statuses pgtide.execution_status[] default '{succeeded,failed,cancelled,dead}',
    batch_size int default null
) returns bigint language plpgsql volatile as $$
declare
    deleted bigint;
begin
    if older_than is null or older_than < interval '0' then
        perform pgtide.invalid_input('pgtide.prune', 'older_than', older_than::text, 'an interval >= 0');
    end if;
    if statuses is null or statuses && '{scheduled,queued,running}'::pgtide.execution_status[] then
        perform pgtide.invalid_input('pgtide.prune', 'statuses', statuses::text,
            'finished statuses only (succeeded, failed, cancelled, dead)');
    end if;
    if batch_size is not null and batch_size < 1 then
        perform pgtide.invalid_input('pgtide.prune', 'batch_size', batch_size::text,
            'NULL (everything) or an integer >= 1');
    end if;
    with doomed as (
        select e.id from pgtide.executions e
         where e.status = any (statuses)
           and e.finished_at < now() - older_than
         order by e.finished_at
         limit batch_size
           for update skip locked
    )
    delete from pgtide.executions e using doomed where e.id = doomed.id;
    get diagnostics deleted = row_count;
    return deleted;
end $$;

comment on function pgtide.prune(interval, pgtide.execution_status[], int) is
    'Deletes finished executions (by default every finished status) whose finished_at is older than '
    'older_than, at most batch_size rows per call, and returns how many it deleted.';

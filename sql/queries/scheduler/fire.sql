-- Insert one execution per (task, slot), copying the task's handler, payload, queue, policy and concurrency key. The
-- slot key makes a second insert of the same slot a no-op, whoever tries it. A task with
-- overlap = 'skip' fires nothing while an earlier execution of it is still pending or running.
insert into pgtide.executions (
    task_id, task_name, queue, handler, payload, priority, status, max_attempts, retry_strategy,
    retry_base, retry_max, timeout, idempotency_key, scheduled_for, visible_at, concurrency_key)
select t.id, t.name, t.queue, t.handler, t.payload, t.priority, 'queued', t.max_attempts,
       t.retry_strategy, t.retry_base, t.retry_max, t.timeout, pgtide.slot_key(t.id, f.slot), f.slot,
       now(), t.concurrency_key
  from unnest($1::bigint[], $2::timestamptz[]) as f(task_id, slot)
  join pgtide.tasks t on t.id = f.task_id
 where not (t.overlap = 'skip'
            and exists (select 1 from pgtide.executions e
                         where e.task_id = t.id
                           and e.status in ('scheduled', 'queued', 'running')))
 order by f.slot
on conflict (idempotency_key) do nothing
returning id, task_id, scheduled_for

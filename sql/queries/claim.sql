-- Claim up to $2 due rows from the queues $1 for worker $3, leased for $4 seconds.
-- One lateral probe per queue walks the partial claim index (queue, priority, visible_at, id), so the
-- cost depends only on how many rows are claimed, not on how many scheduled or finished rows exist.
-- SKIP LOCKED lets any number of workers claim at once without waiting on each other.
with due as (
    select c.id
      from unnest($1::text[]) as q(name)
     cross join lateral (
            select e.id, e.priority, e.visible_at
              from pgtide.executions e
             where e.status = 'queued'
               and e.queue = q.name
             order by e.priority, e.visible_at, e.id
             limit $2
               for update skip locked
           ) c
     order by c.priority, c.visible_at, c.id
     limit $2
)
update pgtide.executions e
   set status = 'running',
       worker_id = $3,
       started_at = now(),
       lease_until = now() + make_interval(secs => $4::float8)
  from due
 where e.id = due.id
returning e.id, e.handler, e.queue, e.payload, e.attempt, e.max_attempts, e.idempotency_key,
          e.task_id, extract(epoch from e.timeout)::float8 as timeout_secs

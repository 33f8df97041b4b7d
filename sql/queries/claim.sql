-- Claim up to $2 due rows from the queues $1 for worker $3, leased for $4 seconds.
-- Paused queues are skipped. A queue with a concurrency_limit gets at most (limit - running) rows; its
-- settings row was locked by claim_lock.sql earlier in this transaction, so that count is exact.
-- One lateral probe per queue walks the partial claim index (queue, priority, visible_at, id), so the
-- cost depends only on how many rows are claimed, not on how many scheduled or finished rows exist.
-- SKIP LOCKED lets any number of workers claim at once without waiting on each other.
with open_queues as (
    select q.name,
           case when s.concurrency_limit is null then $2::bigint
                else least($2::bigint, s.concurrency_limit - (
                        select count(*) from pgtide.executions r
                         where r.status = 'running' and r.queue = q.name)) end as room
      from unnest($1::text[]) as q(name)
      left join pgtide.queues s on s.name = q.name
     where s.paused is not true
), due as (
    select c.id
      from open_queues q
     cross join lateral (
            select e.id, e.priority, e.visible_at
              from pgtide.executions e
             where e.status = 'queued'
               and e.queue = q.name
             order by e.priority, e.visible_at, e.id
             limit greatest(q.room, 0)
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
          e.task_id, extract(epoch from e.timeout)::float8 as timeout_secs,
          extract(epoch from e.started_at - e.visible_at)::float8 as pickup_secs

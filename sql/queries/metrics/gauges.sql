-- Gauges for GET /metrics, per queue: due depth, age of the oldest due row, and dead letters. Reads
-- only queued and dead rows (partial indexes), so it stays cheap on a long history. Queues missing
-- here are reported as 0 by the caller.
with depth as (
    select queue, count(*) as depth, min(visible_at) as oldest
      from pgtide.executions where status = 'queued' group by queue
), dead as (
    select queue, count(*) as dead from pgtide.dead_letters group by queue
)
select coalesce(d.queue, x.queue) as queue,
       coalesce(d.depth, 0) as depth,
       coalesce(extract(epoch from now() - d.oldest)::float8, 0) as oldest_due_secs,
       coalesce(x.dead, 0) as dead
  from depth d
  full join dead x on x.queue = d.queue

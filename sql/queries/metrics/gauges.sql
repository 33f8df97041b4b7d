-- Gauges for GET /metrics, per queue: due depth, age of the oldest due row, dead letters, and the
-- tenants of a shared queue counted, never named (a label per key would explode the series): keys
-- with due rows, keys at their cap, and rate limits holding starts back now (the queue's, or one per
-- key). Reads only queued, running and dead rows (partial indexes) and the small settings tables, so
-- it stays cheap on a long history. Queues missing here are reported as 0 by the caller.
with depth as (
    select queue, count(*) as depth, min(visible_at) as oldest,
           count(distinct concurrency_key) as keys_waiting
      from pgtide.executions where status = 'queued' group by queue
), dead as (
    select queue, count(*) as dead from pgtide.dead_letters group by queue
), at_cap as (
    select r.queue, count(*) as keys_at_cap
      from (select e.queue, e.concurrency_key, count(*) as running
              from pgtide.executions e
             where e.status = 'running' and e.concurrency_key is not null
             group by 1, 2) r
      join pgtide.queues q on q.name = r.queue
      left join pgtide.key_limits kl on kl.queue = r.queue and kl.concurrency_key = r.concurrency_key
     where r.running >= coalesce(kl.concurrency_limit, q.key_concurrency_limit)
     group by r.queue
), rated as (
    select w.queue, count(*) as rate_limited
      from pgtide.rate_windows w
      join pgtide.queues q on q.name = w.queue
     where cardinality(w.starts) >= q.rate_max_starts
       and w.starts[cardinality(w.starts) - q.rate_max_starts + 1] > now() - q.rate_per
     group by w.queue
), queues as (
    select queue from depth union select queue from dead
    union select queue from at_cap union select queue from rated
)
select q.queue,
       coalesce(d.depth, 0) as depth,
       coalesce(extract(epoch from now() - d.oldest)::float8, 0) as oldest_due_secs,
       coalesce(x.dead, 0) as dead,
       coalesce(d.keys_waiting, 0) as keys_waiting,
       coalesce(c.keys_at_cap, 0) as keys_at_cap,
       coalesce(r.rate_limited, 0) as rate_limited
  from queues q
  left join depth d on d.queue = q.queue
  left join dead x on x.queue = q.queue
  left join at_cap c on c.queue = q.queue
  left join rated r on r.queue = q.queue

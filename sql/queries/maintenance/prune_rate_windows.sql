-- One batch of stale rate-limit logs: a log whose latest start left its window counts nothing, and a
-- per-key limit keeps one log per key that ever started, so without this they pile up with every
-- tenant seen. At most $1 rows. A log of a queue whose rate limit is gone goes too (changing the limit
-- clears its logs already; this catches a settings row deleted by hand).
with gone as (
delete from pgtide.rate_windows
 where (queue, concurrency_key) in (
        select w.queue, w.concurrency_key
          from pgtide.rate_windows w
          left join pgtide.queues q on q.name = w.queue
         where q.rate_max_starts is null
            or w.starts[cardinality(w.starts)] <= now() - q.rate_per
            or cardinality(w.starts) = 0
         limit $1::int)
returning 1
)
select count(*) as deleted from gone

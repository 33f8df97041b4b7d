-- Rule failure_rate: the failed share of the attempts finished in the last $1 seconds, per queue
-- ($6 false) or per handler ($6 true), restricted to queue $2 and handler $3 when given; a subject
-- holds when at least $4 attempts finished and more than $5 percent of them failed or died.
-- Reads the finished-rows index over the window only.
select case when $6::boolean then e.handler else e.queue end as subject,
       (100.0 * count(*) filter (where e.status in ('failed', 'dead')) / count(*))::float8 as value,
       format('%s%% of %s attempts failed in the last %s (threshold %s%%)',
              round(100.0 * count(*) filter (where e.status in ('failed', 'dead')) / count(*), 1),
              count(*), make_interval(secs => $1::float8), $5::float8) as message
  from pgtide.executions e
 where e.finished_at > now() - make_interval(secs => $1::float8)
   and e.status in ('succeeded', 'failed', 'dead')
   and ($2::text is null or e.queue = $2)
   and ($3::text is null or e.handler = $3)
 group by 1
having count(*) >= $4::bigint
   and 100.0 * count(*) filter (where e.status in ('failed', 'dead')) / count(*) > $5::float8

-- Rule no_worker: queues (only $1 when given) that have due jobs, are not paused, and have no live
-- worker claiming from them (a heartbeat in the last minute, as pgtide_workers_live counts).
select e.queue as subject,
       count(*)::float8 as value,
       format('%s due jobs and no live worker for this queue', count(*)) as message
  from pgtide.executions e
 where e.status = 'queued'
   and ($1::text is null or e.queue = $1)
   and not exists (select 1 from pgtide.queues q where q.name = e.queue and q.paused)
   and not exists (select 1 from pgtide.workers w
                    where w.last_seen_at > now() - interval '1 minute'
                      and e.queue = any (w.queues))
 group by e.queue

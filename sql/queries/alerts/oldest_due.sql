-- Rule oldest_due: queues (only $2 when given) whose oldest due job has waited longer than $1
-- seconds. Paused queues count: a pause that was forgotten is exactly this kind of trouble.
select e.queue as subject,
       extract(epoch from now() - min(e.visible_at))::float8 as value,
       format('the oldest due job has waited %s (threshold %s)',
              date_trunc('second', now() - min(e.visible_at)), make_interval(secs => $1::float8)) as message
  from pgtide.executions e
 where e.status = 'queued'
   and ($2::text is null or e.queue = $2)
 group by e.queue
having min(e.visible_at) < now() - make_interval(secs => $1::float8)

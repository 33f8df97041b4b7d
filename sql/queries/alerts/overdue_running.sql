-- Rule overdue_running: queues (only $2 when given) with running executions past their timeout
-- plus $1 seconds of grace: a stuck handler, or a worker that holds a lease it no longer serves.
select e.queue as subject,
       count(*)::float8 as value,
       format('%s running past timeout + %s; the oldest is execution %s, started %s ago',
              count(*), make_interval(secs => $1::float8),
              (array_agg(e.id order by e.started_at))[1],
              date_trunc('second', now() - min(e.started_at))) as message
  from pgtide.executions e
 where e.status = 'running'
   and e.started_at + e.timeout + make_interval(secs => $1::float8) < now()
   and ($2::text is null or e.queue = $2)
 group by e.queue

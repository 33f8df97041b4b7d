-- Jobs of queue $1 that ended other than succeeded.
select count(*)
  from pgtide.executions
 where queue = $1
   and status in ('failed', 'dead', 'cancelled')

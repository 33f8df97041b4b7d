select min(visible_at) as next_at, now() as db_now
  from pgtide.executions
 where status = 'scheduled'

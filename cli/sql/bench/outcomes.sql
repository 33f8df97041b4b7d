-- How the executions $1 ended: succeeded, anything else, and the finished rows' attempts beyond one.
select count(*) filter (where status = 'succeeded') as succeeded,
       count(*) filter (where status <> 'succeeded') as other,
       count(*) filter (where attempt > 1) as retried
  from pgtide.executions
 where id = any($1::bigint[])

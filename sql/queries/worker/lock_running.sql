-- Locks the rows of a sql-handler batch that still run attempt $2 on worker $3, in id order (the order
-- every multi-row path of pgtide locks in), and returns their ids. A row missing from the answer was
-- rescued, cancelled or claimed again: its statement must not run. Held until the batch commits, the
-- locks keep every other transaction from changing these rows while their statements run (the
-- heartbeat and the rescuer skip locked rows; a cancel waits for the commit).
select e.id
  from pgtide.executions e
  join unnest($1::bigint[], $2::int[]) as c(id, attempt)
    on e.id = c.id
   and e.attempt = c.attempt
 where e.status::text = 'running'
   and e.worker_id = $3
 order by e.id
   for update of e

-- Ends the `fire lag` workload: its tasks stop firing (paused, kept for inspection).
update pgtide.tasks set status = 'paused' where name like $1 || '%' and status = 'active'

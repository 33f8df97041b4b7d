-- Heartbeat: extend the leases of the rows worker $2 still holds. Ids missing from the result were
-- taken from this worker (rescued after a stall, or cancelled), so it must stop working on them.
update pgtide.executions
   set lease_until = now() + make_interval(secs => $3::float8)
 where id = any ($1::bigint[])
   and status = 'running'
   and worker_id = $2
returning id

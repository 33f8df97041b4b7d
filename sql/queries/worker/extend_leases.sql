-- Heartbeat: extend the leases of the rows worker $2 still holds, and return the ids it still holds.
-- Ids missing from the result were taken from this worker (rescued after a stall, or cancelled), so it
-- must stop working on them.
--
-- The heartbeat never waits for a row lock: rows another transaction has locked (a completion flush,
-- a sql handler's commit, a rescue, a cancel) are skipped (SKIP LOCKED) and extended on the next beat,
-- a third of a lease later. A heartbeat that waited could close a deadlock cycle with a completion
-- flush that locks the same rows in another order. The final SELECT reads the rows without locking,
-- as of the statement's snapshot: a row whose change is not committed yet still counts as held. (The
-- UPDATE runs to completion although nothing reads its output, as every data-modifying WITH does.)
with held as (
    select id
      from pgtide.executions
     where id = any ($1::bigint[])
       and status = 'running'
       and worker_id = $2
     order by id
       for update skip locked
), extended as (
    update pgtide.executions e
       set lease_until = now() + make_interval(secs => $3::float8)
      from held
     where e.id = held.id
)
select e.id
  from pgtide.executions e
 where e.id = any ($1::bigint[])
   and e.status = 'running'
   and e.worker_id = $2

-- Marks the succeeded jobs of a sql-handler batch succeeded, in the transaction of their statements,
-- fenced on (id, attempt, status = running, worker $3). The batch has locked these rows, so every
-- one must be marked. If one is not, the cast in the ELSE branch fails with both counts: the
-- transaction aborts, and the COMMIT sent right behind this statement rolls it back instead, so no
-- effect ever commits without its job's success. (The status is compared as text so that each row is
-- found by its primary key whatever the statistics say.)
with marked as (
    update pgtide.executions e
       set status = 'succeeded',
           finished_at = now(),
           lease_until = null,
           result = null
      from unnest($1::bigint[], $2::int[]) as c(id, attempt)
     where e.id = c.id
       and e.attempt = c.attempt
       and e.status::text = 'running'
       and e.worker_id = $3
    returning e.id
)
select case
           when count(*) = cardinality($1::bigint[]) then count(*)
           else ('sql handler batch: ' || count(*) || ' of ' || cardinality($1::bigint[])
                 || ' locked rows could be marked succeeded')::bigint
       end as marked
  from marked

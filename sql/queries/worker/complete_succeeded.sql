-- Mark a batch of attempts succeeded. Fenced: a row that is no longer running this attempt for this
-- worker (rescued, cancelled, or claimed again) is left alone and missing from the returned ids.
-- The status is compared as text on purpose: it keeps the planner from reading every running row
-- through the lease index, so each row is found by its primary key whatever the statistics say.
update pgtide.executions e
   set status = 'succeeded',
       finished_at = now(),
       lease_until = null,
       result = c.result
  from unnest($1::bigint[], $2::int[], $3::jsonb[]) as c(id, attempt, result)
 where e.id = c.id
   and e.attempt = c.attempt
   and e.status::text = 'running'
   and e.worker_id = $4
returning e.id

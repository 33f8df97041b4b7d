-- Mark a batch of attempts succeeded. Fenced: a row that is no longer running this attempt for this
-- worker (rescued, cancelled, or claimed again) is left alone and missing from the returned ids.
update pgtide.executions e
   set status = 'succeeded',
       finished_at = now(),
       lease_until = null,
       result = c.result
  from unnest($1::bigint[], $2::int[], $3::jsonb[]) as c(id, attempt, result)
 where e.id = c.id
   and e.attempt = c.attempt
   and e.status = 'running'
   and e.worker_id = $4
returning e.id

-- Advance each task in the same transaction as its fires: the next slot, the last fired slot, and
-- the status (finished one-shots, invalid schedules with the reason).
update pgtide.tasks t
   set next_run_at = u.next_run_at,
       last_run_at = coalesce(u.last_run_at, t.last_run_at),
       status = u.status,
       last_error = u.last_error
  from unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::text[])
       as u(id, next_run_at, last_run_at, status, last_error)
 where t.id = u.id

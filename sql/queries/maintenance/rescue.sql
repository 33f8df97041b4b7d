-- Rescue up to $1 attempts whose lease expired: their worker died, stalled or lost its connection.
-- The expired rows are locked SKIP LOCKED: a row locked by an open sql-handler transaction is still
-- being decided by that transaction (its commit records success; its death rolls back and unlocks), so
-- the rescuer passes over it instead of waiting behind it. pgtide.fail_attempts re-checks status,
-- attempt and expiry, so a row that completed or was renewed after this statement read it is never
-- overwritten (River bug #1302).
select f.id, f.status::text as status, f.retry_id, x.worker_id
  from (select array_agg(id) as ids,
               array_agg(attempt) as attempts,
               array_agg(format('lease expired at %s: worker %s stopped heartbeating; attempt rescued',
                                lease_until, worker_id)) as errors,
               array_agg(false) as permanent
          from (select id, attempt, worker_id, lease_until
                  from pgtide.executions
                 where status = 'running'
                   and lease_until < now()
                 order by lease_until
                 limit $1
                   for update skip locked) expired) batch
 cross join lateral pgtide.fail_attempts(batch.ids, batch.attempts, batch.errors, batch.permanent,
                                         null, true) f
  join pgtide.executions x on x.id = f.id

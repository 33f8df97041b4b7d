-- Rescue up to $1 attempts whose lease expired: their worker died, stalled or lost its connection.
-- pgtide.fail_attempts re-checks status, attempt and expiry under the row lock, so a row that completed
-- or was renewed after this statement read it is never overwritten (River bug #1302).
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
                 limit $1) expired) batch
 cross join lateral pgtide.fail_attempts(batch.ids, batch.attempts, batch.errors, batch.permanent,
                                         null, true) f
  join pgtide.executions x on x.id = f.id

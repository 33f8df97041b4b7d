-- Promote up to $1 due scheduled rows (delayed jobs and retries) to queued, and wake the workers of
-- each queue with one NOTIFY per queue.
with due as (
    select id
      from pgtide.executions
     where status = 'scheduled'
       and visible_at <= now()
     order by visible_at
     limit $1
       for update skip locked
), promoted as (
    update pgtide.executions e
       set status = 'queued'
      from due
     where e.id = due.id
    returning e.queue
)
select queue, count(*) as promoted, pg_notify('pgtide_jobs', queue)::text as notified
  from promoted
 group by queue

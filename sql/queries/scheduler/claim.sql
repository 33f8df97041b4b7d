-- Take up to $2 active tasks that are due at $1 (or now()), or that have no planned slot yet (just
-- created, resumed or changed), oldest slot first. SKIP LOCKED lets any number of scheduler instances
-- work side by side: each task is planned and fired by exactly one of them at a time.
select id, name, cron, extract(epoch from every)::float8 as every_secs, run_at, timezone,
       misfire, overlap, next_run_at, coalesce($1::timestamptz, now()) as db_now
  from pgtide.tasks
 where status = 'active'
   and (next_run_at is null or next_run_at <= coalesce($1::timestamptz, now()))
 order by next_run_at nulls first, id
 limit $2
   for update skip locked

-- A task's schedule, for previews (`pgtide task next`).
select id, name, cron, extract(epoch from every)::float8 as every_secs, run_at, timezone, status,
       next_run_at, now() as db_now
  from pgtide.tasks
 where name = $1

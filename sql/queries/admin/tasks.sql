-- Every task with its overview (schedule, next/last run, last outcome, success rate) and its
-- schedule columns (cron, every, run_at, timezone), so the console can say the schedule in words.
select to_jsonb(o) || jsonb_build_object(
           'cron', t.cron, 'every', t.every::text, 'run_at', t.run_at, 'timezone', t.timezone) as task
  from pgtide.task_overview o
  join pgtide.tasks t on t.id = o.id
 order by o.name

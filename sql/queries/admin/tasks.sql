-- Every task with its overview (schedule, next/last run, last outcome, success rate).
select to_jsonb(o) as task from pgtide.task_overview o order by o.name

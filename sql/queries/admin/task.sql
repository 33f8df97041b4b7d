-- One task, by name, with the overview's outcome columns.
select to_jsonb(t) || jsonb_build_object(
           'schedule', o.schedule, 'last_outcome', o.last_outcome,
           'last_finished_at', o.last_finished_at, 'success_rate', o.success_rate) as task
  from pgtide.tasks t
  join pgtide.task_overview o on o.id = t.id
 where t.name = $1

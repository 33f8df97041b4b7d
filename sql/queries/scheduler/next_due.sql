-- When the scheduler must look again: the earliest planned slot (or now, if a task awaits planning).
select min(case when next_run_at is null then now() else next_run_at end) as next_due, now() as db_now
  from pgtide.tasks
 where status = 'active'

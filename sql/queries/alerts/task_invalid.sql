-- Rule task_invalid: tasks (only $1 when given) whose schedule stopped because it is invalid.
select t.name as subject,
       1::float8 as value,
       format('task %s is invalid: %s', t.name, coalesce(t.last_error, 'no reason recorded')) as message
  from pgtide.tasks t
 where t.status = 'invalid'
   and ($1::text is null or t.name = $1)

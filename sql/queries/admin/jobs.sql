-- Executions, newest first, filtered by status, queue, handler and task name (each optional).
-- Payloads and results are left out of listings; `jobs show` has them.
select to_jsonb(e) - '{payload,result}'::text[] as job
  from pgtide.executions e
 where ($1::text is null or e.status::text = $1)
   and ($2::text is null or e.queue = $2)
   and ($3::text is null or e.handler = $3)
   and ($4::text is null or e.task_name = $4)
 order by e.id desc
 limit $5

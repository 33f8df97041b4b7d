-- pgtide demo: every execution of this demo run.
select id, handler, attempt, status::text, idempotency_key, coalesce(error, '') as error
  from pgtide.executions
 where id > $1
 order by id

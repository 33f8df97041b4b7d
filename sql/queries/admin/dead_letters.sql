-- The dead-letter queue, oldest first, by handler and queue (each optional).
select to_jsonb(d) - '{payload,result}'::text[] as job
  from pgtide.dead_letters d
 where ($1::text is null or d.handler = $1)
   and ($2::text is null or d.queue = $2)
 order by d.id
 limit $3

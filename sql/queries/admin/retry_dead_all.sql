-- Requeue every dead letter (of handler $1 when given), each through pgtide.retry_dead.
select d.id as dead_id, pgtide.retry_dead(d.id) as id
  from pgtide.dead_letters d
 where ($1::text is null or d.handler = $1)
 order by d.id

-- The whole retry chain of execution $1: up through retry_of to the first attempt (or the oldest
-- row still kept), then down through every retry and requeue, in order.
with recursive up as (
    select e.id, e.retry_of, 0 as depth from pgtide.executions e where e.id = $1
    union all
    select p.id, p.retry_of, up.depth + 1
      from pgtide.executions p join up on p.id = up.retry_of
), root as (
    select id from up order by depth desc limit 1
), down as (
    select e.id, 0 as depth from pgtide.executions e join root on e.id = root.id
    union all
    select c.id, down.depth + 1
      from pgtide.executions c join down on c.retry_of = down.id
)
select to_jsonb(e) - '{payload}'::text[] as job
  from down join pgtide.executions e on e.id = down.id
 order by down.depth, e.id

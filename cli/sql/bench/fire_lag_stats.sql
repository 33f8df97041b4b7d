-- Fire lag of the $4 cron tasks named $1%, for the slots in [$2, $3): when each slot's execution row
-- was inserted (created_at, the firing transaction's time) minus the slot itself, in milliseconds.
-- Also the slots fired twice (must be 0) and the every-second slots of the window never fired.
with fired as (
    select task_id, scheduled_for,
           (extract(epoch from created_at - scheduled_for) * 1000.0)::float8 as lag
      from pgtide.executions
     where task_name like $1 || '%'
       and scheduled_for >= $2::timestamptz and scheduled_for < $3::timestamptz
)
select count(*) as fired,
       percentile_cont(0.5) within group (order by lag) as p50,
       percentile_cont(0.99) within group (order by lag) as p99,
       max(lag) as max,
       count(*) - count(distinct (task_id, scheduled_for)) as doubled,
       $4::bigint * extract(epoch from $3::timestamptz - $2::timestamptz)::bigint
           - count(distinct (task_id, scheduled_for)) as missed
  from fired

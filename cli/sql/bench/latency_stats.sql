-- Pickup latency as the handler recorded it into each execution's result (microseconds from just
-- before the enqueue call to the start of the handler), for the executions $1.
select count(*) as n,
       percentile_cont(0.5) within group (order by lag) as p50,
       percentile_cont(0.95) within group (order by lag) as p95,
       percentile_cont(0.99) within group (order by lag) as p99,
       max(lag) as max
  from (select (result ->> 'lag_us')::float8 / 1000.0 as lag
          from pgtide.executions
         where id = any($1::bigint[]) and status = 'succeeded') l

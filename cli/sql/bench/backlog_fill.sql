-- The `backlog` workload's ballast in queue $1: $2 rows scheduled a century from now and $2 rows
-- already succeeded. Keys are sequential so the unique index fills in order (the fill is setup, not
-- what is measured). Neither kind is due, so neither may slow a claim down.
insert into pgtide.executions (queue, handler, status, visible_at, finished_at, idempotency_key)
select $1, 'noop',
       case when i % 2 = 0 then 'scheduled' else 'succeeded' end::pgtide.execution_status,
       case when i % 2 = 0 then now() + interval '100 years' else now() - interval '1 hour' end,
       case when i % 2 = 0 then null else now() - interval '1 hour' end,
       'bench-backlog-' || i
  from generate_series(1, 2 * $2::bigint) as i

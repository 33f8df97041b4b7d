-- Bulk enqueue: one statement for the whole batch. Rows are validated in Rust first (the same rules
-- as pgtide.enqueue), and the table's CHECK constraints stand behind that. The client sends a
-- time-ordered key (UUID version 7) for each job without one, so the statement generates none; a NULL
-- key would still get pgtide.uuid_v7(). Rows whose key already exists are not inserted and report the
-- existing id (NULL here only if a concurrent transaction inserted the key after this statement's
-- snapshot). The existing row is looked up by key only for the rows not inserted, through the unique
-- index: a join would be planned as a scan of the whole table.
with input as materialized (
    select i.*, coalesce(i.key, pgtide.uuid_v7()::text) as idempotency_key
      from unnest($1::text[], $2::jsonb[], $3::text[], $4::timestamptz[], $5::text[], $6::int[],
                  $7::int[], $8::text[], $9::float8[], $10::float8[], $11::float8[], $12::text[])
           with ordinality
           as i(handler, payload, queue, run_at, key, priority, max_attempts, retry_strategy,
                retry_base, retry_max, timeout, concurrency_key, ord)
), inserted as (
    insert into pgtide.executions (
        handler, payload, queue, priority, status, max_attempts, retry_strategy, retry_base,
        retry_max, timeout, idempotency_key, visible_at, concurrency_key)
    select handler, payload, queue, priority::smallint,
           case when run_at > now() then 'scheduled' else 'queued' end::pgtide.execution_status,
           max_attempts, retry_strategy, make_interval(secs => retry_base),
           make_interval(secs => retry_max), make_interval(secs => timeout), idempotency_key,
           greatest(coalesce(run_at, now()), now()), concurrency_key
      from input
     order by ord
    on conflict (idempotency_key) do nothing
    returning id, idempotency_key
)
select coalesce(ins.id,
                (select e.id from pgtide.executions e where e.idempotency_key = i.idempotency_key))
           as id,
       i.idempotency_key
  from input i
  left join inserted ins on ins.idempotency_key = i.idempotency_key
 order by i.ord

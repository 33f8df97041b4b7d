-- The `limit` workload: the fastest drain the data layout allows, with no client at all. A loop inside
-- the server claims 500 due rows (the same SKIP LOCKED walk of the claim index as pgtide's claim),
-- commits, marks them succeeded in one UPDATE, and commits again: two durable transitions per batch,
-- as in any queue, but no round trips, no handler and no per-job commit. pgtide's drain is reported
-- as a fraction of this.
create schema if not exists pgtide_bench;

create or replace procedure pgtide_bench.drain_limit(q text, batch int)
language plpgsql as $$
declare
    ids bigint[];
begin
    loop
        with due as (
            select e.id
              from pgtide.executions e
             where e.status = 'queued' and e.queue = q
             order by e.priority, e.visible_at, e.id
             limit batch
               for update skip locked
        ), claimed as (
            update pgtide.executions e
               set status = 'running', worker_id = 'bench-limit', started_at = now(),
                   lease_until = now() + interval '30 seconds'
              from due
             where e.id = due.id
            returning e.id
        )
        select array_agg(id) into ids from claimed;
        exit when ids is null;
        commit;
        update pgtide.executions
           set status = 'succeeded', finished_at = now(), lease_until = null
         where id = any(ids);
        commit;
    end loop;
end $$;

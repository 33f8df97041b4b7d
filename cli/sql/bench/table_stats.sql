-- pgtide.executions now: dead and live row versions, vacuum runs (autovacuum's, and the others: the
-- leader's vacuumer) from the statistics system, which lags a little; the sizes of the table and of
-- all its indexes; and the server's checkpoints so far, whose full-page writes slow every writer.
select coalesce(s.n_dead_tup, 0) as dead_tuples,
       coalesce(s.n_live_tup, 0) as live_tuples,
       coalesce(s.autovacuum_count, 0) as autovacuums,
       coalesce(s.vacuum_count, 0) as vacuums,
       pg_relation_size('pgtide.executions') as table_bytes,
       pg_indexes_size('pgtide.executions') as indexes_bytes,
       (select checkpoints_timed + checkpoints_req from pg_stat_bgwriter) as checkpoints
  from pg_stat_user_tables s
 where s.relid = 'pgtide.executions'::regclass

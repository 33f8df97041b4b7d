-- pgtide.executions now: dead and live row versions and autovacuum runs (from the statistics system,
-- which lags a little), and the sizes of the table and of all its indexes.
select coalesce(s.n_dead_tup, 0) as dead_tuples,
       coalesce(s.n_live_tup, 0) as live_tuples,
       coalesce(s.autovacuum_count, 0) as autovacuums,
       pg_relation_size('pgtide.executions') as table_bytes,
       pg_indexes_size('pgtide.executions') as indexes_bytes
  from pg_stat_user_tables s
 where s.relid = 'pgtide.executions'::regclass

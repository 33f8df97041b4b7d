-- Whether pgtide.executions needs a vacuum now: its dead row versions number over $1 and over a
-- fraction $2 of its live rows, and no vacuum (autovacuum's, or an earlier one of ours) works on it.
-- The counts come from the statistics system, which lags by about a second.
select coalesce(s.n_dead_tup, 0) as dead,
       coalesce(s.n_dead_tup, 0) > greatest($1::bigint, ($2::float8 * coalesce(s.n_live_tup, 0))::bigint)
       and not exists (select from pg_stat_progress_vacuum p where p.relid = s.relid) as due
  from pg_stat_user_tables s
 where s.relid = 'pgtide.executions'::regclass

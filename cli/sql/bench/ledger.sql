-- The sql workload's ledger: one row per effect of its handler, which writes the job's payload.
create table bench_ledger (id bigserial primary key, payload jsonb not null)

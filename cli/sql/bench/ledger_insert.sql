insert into bench_ledger (payload) values ($1)

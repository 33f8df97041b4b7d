-- Runs the `limit` drain on queue $1 in batches of $2 (see limit_procedure.sql).
call pgtide_bench.drain_limit($1, $2)

-- One batch of retention: succeeded, failed and cancelled rows older than $1 seconds, dead rows older
-- than $2 seconds, at most $3 rows each. Small batches keep locks and WAL bursts short.
select pgtide.prune(make_interval(secs => $1::float8), '{succeeded,failed,cancelled}', $3::int)
     + pgtide.prune(make_interval(secs => $2::float8), '{dead}', $3::int) as deleted

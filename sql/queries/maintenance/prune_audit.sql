-- One batch of audit retention: audit_log rows older than $1 seconds, at most $2 rows, through the
-- SECURITY DEFINER function (a worker role may not DELETE from the audit log itself).
select pgtide.prune_audit(make_interval(secs => $1::float8), $2::int) as deleted

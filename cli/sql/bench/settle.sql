-- Before each enqueue-and-drain: vacuum what the previous workload left, so autovacuum does not wake
-- up inside a timed section (sent on its own: VACUUM cannot run in a multi-statement string).
vacuum pgtide.executions

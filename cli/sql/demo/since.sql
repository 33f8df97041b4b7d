-- pgtide demo: the newest execution id before the demo starts.
select coalesce(max(id), 0) from pgtide.executions

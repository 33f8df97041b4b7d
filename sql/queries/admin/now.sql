-- The database's clock: relative times (now+5m) are resolved against it.
select now() as now

-- After the backlog's ballast is in: the state autovacuum would leave a table in that has been in use
-- this long (visibility map set, statistics fresh).
vacuum (analyze) pgtide.executions

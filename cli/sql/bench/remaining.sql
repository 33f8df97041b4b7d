-- Rows of queue $1 not finished yet. Two counts, so each matches its partial index (claim, lease).
select (select count(*) from pgtide.executions where status = 'queued' and queue = $1)
     + (select count(*) from pgtide.executions where status = 'running' and queue = $1) as remaining

-- pgtide demo: executions of this demo run (ids above $1) by status.
select status::text, count(*) from pgtide.executions where id > $1 group by status

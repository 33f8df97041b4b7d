-- One execution, every column.
select to_jsonb(e) as job from pgtide.executions e where e.id = $1

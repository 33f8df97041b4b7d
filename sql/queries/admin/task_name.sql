-- A task's name from its id.
select name from pgtide.tasks where id = $1

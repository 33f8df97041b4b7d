select pgtide.delete_task(name => $1)

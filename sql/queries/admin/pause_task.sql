select pgtide.pause_task(name => $1)

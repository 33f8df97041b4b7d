select pgtide.resume_task(name => $1)

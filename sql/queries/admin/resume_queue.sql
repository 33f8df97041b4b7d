select pgtide.resume_queue(queue => $1)

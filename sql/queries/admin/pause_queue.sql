select pgtide.pause_queue(queue => $1)

select pgtide.set_queue_limit(queue => $1, concurrency_limit => $2)

select pgtide.set_key_limit(queue => $1, concurrency_limit => $2, concurrency_key => $3)

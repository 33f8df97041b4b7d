select pgtide.trigger_task(name => $1, idempotency_key => $2) as id

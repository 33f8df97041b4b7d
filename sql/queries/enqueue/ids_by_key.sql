select id, idempotency_key from pgtide.executions where idempotency_key = any ($1::text[])

select pgtide.retry_dead(execution_id => $1) as id

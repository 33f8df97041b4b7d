select pgtide.cancel(execution_id => $1)::text as previous

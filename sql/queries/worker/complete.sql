-- Record one completion flush of worker $1 in one statement: successes ($2 ids, $3 attempts, $4
-- results) and failures ($5 ids, $6 attempts, $7 errors, $8 permanent), the failures' retries or dead
-- transitions included. Rows missing from the answer were no longer this worker's (fenced).
select id, status, retry_id
  from pgtide.complete($1::text, $2::bigint[], $3::int[], $4::jsonb[], $5::bigint[], $6::int[],
                       $7::text[], $8::boolean[])

-- Record a batch of failed attempts for worker $5: retries are inserted as scheduled rows, exhausted or
-- permanent failures become dead. The rule lives in pgtide.fail_attempts (shared with the rescuer).
select id, status::text as status, retry_id
  from pgtide.fail_attempts($1::bigint[], $2::int[], $3::text[], $4::boolean[], $5::text)

-- Claim up to $2 due rows of the queues $1 for worker $3, leased for $4 seconds, in one statement and
-- one round trip. The claim commits asynchronously (the last argument); see pgtide.claim in
-- sql/migrations/V5__fast_path.sql for why that is safe, and for how limits and pauses are honoured.
select id, handler, queue, payload, attempt, max_attempts, idempotency_key, task_id, timeout_secs,
       pickup_secs
  from pgtide.claim($1::text[], $2::int, $3::text, $4::float8, true)

select pgtide.enqueue(
    handler => $1::text,
    payload => $2::jsonb,
    queue => $3::text,
    run_at => $4::timestamptz,
    idempotency_key => $5::text,
    priority => $6::int,
    max_attempts => $7::int,
    retry_strategy => $8::text,
    retry_base => make_interval(secs => $9::float8),
    retry_max => make_interval(secs => $10::float8),
    timeout => make_interval(secs => $11::float8),
    concurrency_key => $12::text)

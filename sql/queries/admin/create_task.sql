-- pgtide.create_task with the caller's fields; a NULL field takes the function's default.
select pgtide.create_task(
    name => $1::text,
    handler => $2::text,
    payload => coalesce($3::jsonb, '{}'),
    cron => $4::text,
    every => make_interval(secs => $5::float8),
    run_at => $6::timestamptz,
    timezone => coalesce($7::text, 'UTC'),
    queue => coalesce($8::text, 'default'),
    priority => coalesce($9::int, 0),
    max_attempts => coalesce($10::int, 5),
    retry_strategy => coalesce($11::text, 'exponential'),
    retry_base => coalesce(make_interval(secs => $12::float8), interval '10 seconds'),
    retry_max => coalesce(make_interval(secs => $13::float8), interval '1 hour'),
    timeout => coalesce(make_interval(secs => $14::float8), interval '5 minutes'),
    overlap => coalesce($15::text, 'allow'),
    misfire => coalesce($16::text, 'fire_once'),
    tags => coalesce($17::text[], '{}')) as id

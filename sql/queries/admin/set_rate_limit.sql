-- A NULL max_starts removes the limit; per is given in seconds.
select pgtide.set_rate_limit(queue => $1, max_starts => $2, per => make_interval(secs => $3::float8),
                             per_key => $4)

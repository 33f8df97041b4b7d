-- The measured window of the `fire lag` workload: whole seconds, starting $1 seconds from now, $2 long.
select date_trunc('second', now()) + make_interval(secs => $1::float8) as window_start,
       date_trunc('second', now()) + make_interval(secs => $1::float8 + $2::float8) as window_end

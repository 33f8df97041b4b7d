-- Attempts finished per queue and minute over the last $1 seconds (pgtide.queue_minutes).
select to_jsonb(m) as minute
  from pgtide.queue_minutes(make_interval(secs => $1::float8)) m
 order by m.queue, m.minute

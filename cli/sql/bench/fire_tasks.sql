-- The `fire lag` workload's tasks: $2 tasks named $1<i> on a 6-field every-second cron in queue $3.
select pgtide.create_task(name => $1 || i, handler => 'noop', cron => '* * * * * *', queue => $3)
  from generate_series(1, $2::int) as i

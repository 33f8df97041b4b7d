-- Records a failed delivery attempt: retried after min(5 min, 2^attempts s), or failed for good
-- once $3 attempts were made.
update pgtide.alert_deliveries
   set attempts = attempts + 1,
       last_error = $2,
       status = case when attempts + 1 >= $3 then 'failed' else 'pending' end,
       next_attempt_at = now() + make_interval(secs => least(300, power(2, attempts + 1)))
 where id = $1 and status = 'pending'

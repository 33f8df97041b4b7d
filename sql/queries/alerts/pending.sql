-- Deliveries due now, oldest first, with their events.
select d.id, d.webhook, d.attempts, e.id as event_id, e.rule, e.kind, e.subject, e.state, e.value,
       e.message, e.at, e.fired_id, f.at as fired_at
  from pgtide.alert_deliveries d
  join pgtide.alert_events e on e.id = d.event_id
  left join pgtide.alert_events f on f.id = e.fired_id
 where d.status = 'pending'
   and d.next_attempt_at <= now()
 order by d.id
 limit $1

-- One batch of alert-history retention: finished webhook deliveries older than $2 seconds, and alert
-- events older than $1 seconds, at most $3 rows each, oldest first. Kept whatever their age:
-- - a delivery still pending (it is retried until it is delivered or given up);
-- - the latest event of a subject that still fires: it is the alert's state (pgtide.alerts), and
--   without it the leader would record, and notify, the same alert again;
-- - an event with a pending delivery.
-- Oldest first, so an episode's firing event goes no later than the resolved event that ends it.
with deliveries as (
    delete from pgtide.alert_deliveries
     where id in (select d.id
                    from pgtide.alert_deliveries d
                   where d.status <> 'pending'
                     and d.created_at < now() - make_interval(secs => $2::float8)
                   order by d.created_at
                   limit $3::int)
    returning 1
), events as (
    delete from pgtide.alert_events
     where id in (select e.id
                    from pgtide.alert_events e
                   where e.at < now() - make_interval(secs => $1::float8)
                     and (e.state = 'resolved'
                          or exists (select 1 from pgtide.alert_events later
                                      where later.rule = e.rule
                                        and later.subject = e.subject
                                        and later.id > e.id))
                     and not exists (select 1 from pgtide.alert_deliveries d
                                      where d.event_id = e.id and d.status = 'pending')
                   order by e.at
                   limit $3::int)
    returning 1
)
select (select count(*) from deliveries) + (select count(*) from events) as deleted

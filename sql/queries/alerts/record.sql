-- Records one alert event ($4 = 'firing' or 'resolved') and one pending delivery per webhook in $8,
-- in one statement, so an event never exists without its notifications.
with event as (
    insert into pgtide.alert_events (rule, kind, subject, state, value, message, fired_id)
    values ($1, $2, $3, $4, $5, $6, $7)
    returning id, at
), deliveries as (
    insert into pgtide.alert_deliveries (event_id, webhook)
    select event.id, w.name from event, unnest($8::text[]) as w(name)
)
select id, at from event

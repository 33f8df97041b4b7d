-- The latest $1 alert events, newest first, each with its deliveries' outcomes.
select to_jsonb(e) || jsonb_build_object('deliveries', coalesce(
           (select jsonb_agg(jsonb_build_object('webhook', d.webhook, 'status', d.status,
                                                'attempts', d.attempts, 'last_error', d.last_error,
                                                'delivered_at', d.delivered_at) order by d.id)
              from pgtide.alert_deliveries d where d.event_id = e.id), '[]')) as event
  from pgtide.alert_events e
 order by e.id desc
 limit $1

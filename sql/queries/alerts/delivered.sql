-- Marks a delivery sent (fenced on its pending status).
update pgtide.alert_deliveries
   set status = 'delivered', attempts = attempts + 1, delivered_at = now(), last_error = null
 where id = $1 and status = 'pending'

delete from pgtide.workers where last_seen_at < now() - interval '1 hour'

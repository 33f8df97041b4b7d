-- Workers whose heartbeat is recent (they beat every third of their lease, 10 s by default).
select count(*) as live from pgtide.workers where last_seen_at > now() - interval '1 minute'

update pgtide.workers set last_seen_at = now() where id = $1

insert into pgtide.workers (id, host, pid, queues, concurrency)
values ($1, $2, $3, $4, $5)
on conflict (id) do update
   set host = excluded.host, pid = excluded.pid, queues = excluded.queues,
       concurrency = excluded.concurrency, last_seen_at = now()

-- Workers with their running count; `live` when the heartbeat is under a minute old (as
-- pgtide_workers_live counts). Running rows are few and found through the lease index.
select to_jsonb(w) || jsonb_build_object(
           'running', coalesce(r.running, 0),
           'live', w.last_seen_at > now() - interval '1 minute',
           'heartbeat_age_secs', extract(epoch from now() - w.last_seen_at)::float8) as worker
  from pgtide.workers w
  left join (select worker_id, count(*) as running
               from pgtide.executions where status = 'running' group by worker_id) r
         on r.worker_id = w.id
 order by w.started_at, w.id

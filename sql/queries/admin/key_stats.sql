-- The keys of one queue (or of every queue when $1 is NULL) with the most waiting first, at most $2
-- of them; the oldest due age in seconds.
select to_jsonb(k) - 'oldest_due_age'
       || jsonb_build_object('oldest_due_secs', extract(epoch from k.oldest_due_age)::float8) as key
  from pgtide.key_stats k
 where $1::text is null or k.queue = $1
 order by k.queued desc, k.running desc, k.queue, k.concurrency_key nulls first
 limit $2

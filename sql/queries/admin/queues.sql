-- Every queue with jobs or settings; the oldest due age in seconds.
select to_jsonb(q) - 'oldest_due_age'
       || jsonb_build_object('oldest_due_secs', extract(epoch from q.oldest_due_age)::float8) as queue
  from pgtide.queue_overview q
 order by q.queue

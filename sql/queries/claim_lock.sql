-- Serializes claims on the limited queues among $1 (in name order, so two workers never deadlock), in
-- the transaction that then runs claim.sql. The claim's own snapshot is taken after this lock is
-- granted, so it counts every row another worker claimed and committed before us: concurrent claims
-- cannot together overshoot a queue's concurrency_limit. Unlimited queues take no lock.
select q.name
  from pgtide.queues q
 where q.name = any ($1::text[])
   and q.concurrency_limit is not null
   and not q.paused
 order by q.name
   for update

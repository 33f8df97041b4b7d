-- Seconds until a rate limit of the queues $1 allows a start a due row waits for (NULL when none
-- does), and whether any of the queues has a rate limit at all. Asked after a claim that came back
-- short, so the worker sleeps exactly that long; a worker told that none has a limit stops asking for
-- a poll interval.
select pgtide.rate_wait($1::text[]) as wait_secs,
       exists (select 1 from pgtide.queues q
                where q.name = any ($1::text[]) and q.rate_max_starts is not null) as rated

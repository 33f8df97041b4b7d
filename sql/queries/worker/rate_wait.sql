-- Seconds until a rate limit of the queues $1 allows a start a due row waits for; NULL when none does.
-- Asked after a claim that came back short, so the worker sleeps exactly that long.
select pgtide.rate_wait($1::text[]) as wait_secs

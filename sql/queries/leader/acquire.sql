-- Take the lease $1 for holder $2 for $3 seconds, or renew it if $2 already holds it. Returns a row
-- only when $2 holds the lease afterwards. Time is the database's, so host clocks don't matter.
insert into pgtide.leader as l (name, holder, acquired_at, expires_at)
values ($1, $2, now(), now() + make_interval(secs => $3::float8))
on conflict (name) do update
   set holder = excluded.holder,
       acquired_at = case when l.holder = excluded.holder then l.acquired_at else now() end,
       expires_at = excluded.expires_at
 where l.holder = excluded.holder
    or l.expires_at < now()
returning holder, acquired_at

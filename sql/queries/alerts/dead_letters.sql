-- Rule dead_letters: queues (only $1 when given) with more than $2 dead letters, or with dead
-- letters added in the last $3 seconds ("growing"); either threshold may be NULL.
select d.queue as subject,
       count(*)::float8 as value,
       format('%s dead letters%s%s', count(*),
              case when $3::float8 is not null then
                  format(', %s added in the last %s',
                         count(*) filter (where d.finished_at > now() - make_interval(secs => $3::float8)),
                         make_interval(secs => $3::float8)) end,
              case when $2::bigint is not null then format(' (threshold %s)', $2::bigint) end) as message
  from pgtide.dead_letters d
 where ($1::text is null or d.queue = $1)
 group by d.queue
having ($2::bigint is not null and count(*) > $2::bigint)
    or ($3::float8 is not null
        and count(*) filter (where d.finished_at > now() - make_interval(secs => $3::float8)) > 0)

-- What fires now, longest-firing first.
select to_jsonb(a) as alert from pgtide.alerts a order by a.since, a.rule, a.subject

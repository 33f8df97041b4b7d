-- The latest $2 audit entries, newest first; only surface $1 when given.
select to_jsonb(a) as entry
  from pgtide.audit_log a
 where ($1::text is null or a.surface = $1)
 order by a.id desc
 limit $2

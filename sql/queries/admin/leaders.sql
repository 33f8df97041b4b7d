-- The leader leases, with whether each is held now.
select to_jsonb(l) || jsonb_build_object('held', l.expires_at > now()) as leader
  from pgtide.leader l
 order by l.name

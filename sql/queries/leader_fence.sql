-- The fence of one leader pass: a row only while $2 holds the unexpired lease $1. The row stays locked
-- FOR SHARE until the pass's transaction ends, so a successor's takeover (an UPDATE of this row) waits
-- for the pass to commit, and a pass that starts after a takeover finds another holder and does
-- nothing. Two leaders therefore never act at once, whatever their clocks or stalls.
select 1 as held
  from pgtide.leader
 where name = $1
   and holder = $2
   and expires_at > clock_timestamp()
   for share

-- The fence of one leader pass: a row only while $2 holds the unexpired lease $1. The row stays locked
-- FOR SHARE until the pass's transaction ends, so a successor's takeover (an UPDATE of this row) waits
-- for the pass to commit, and a pass that starts after a takeover finds another holder and does
-- nothing. Two leaders therefore never act at once, whatever their clocks or stalls.
--
-- A leader that stalls in the middle of a pass (SIGSTOP, a frozen VM) must not hold the lock for
-- ever, or no successor could take over: the pass's transaction ends itself after $3 (the lease's
-- TTL: a stalled leader stopped renewing too) of idleness, which rolls it back and releases the row.
select set_config('idle_in_transaction_session_timeout', $3, true) is not null as held
  from pgtide.leader
 where name = $1
   and holder = $2
   and expires_at > clock_timestamp()
   for share

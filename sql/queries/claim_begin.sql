-- Opens a claim's transaction.
--
-- synchronous_commit = off: the claim does not wait for its WAL to reach disk. That is safe because a
-- claim is only a promise to run: if the server crashes before the claim is durable, the row is simply
-- queued again and runs again (at least once, as after any crash). A completion is always committed
-- synchronously, and WAL is flushed in order, so an acknowledged completion implies a durable claim.
--
-- plan_cache_mode = force_generic_plan: the claim runs thousands of times a second with the same
-- shape; re-planning it for every call (the default for the first calls, and for good whenever the
-- planner rates the generic plan dearer) cost more CPU than executing it.
begin;
set local synchronous_commit = off;
set local plan_cache_mode = force_generic_plan

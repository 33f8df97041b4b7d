-- Opens a completion flush's transaction: its statements are planned once per connection and reused
-- (see claim_begin.sql). The commit stays synchronous: a flushed completion is durable.
begin;
set local plan_cache_mode = force_generic_plan

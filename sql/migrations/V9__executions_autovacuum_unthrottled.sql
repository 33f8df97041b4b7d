-- Autovacuum of the queue table runs unthrottled. A queue that finishes 20,000 jobs a second makes as
-- many dead row versions a second; autovacuum's default cost delay (2 ms per 200 pages) stretched one
-- pass over it to two minutes, and while it held the table the maintenance leader's own vacuum had to
-- skip it: 8 million dead versions piled up and the drain fell to half its median.
alter table pgtide.executions set (autovacuum_vacuum_cost_delay = 0);

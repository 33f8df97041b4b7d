-- Vacuums the queue table. SKIP_LOCKED: never wait behind another vacuum or a migration.
-- TRUNCATE false: never take the exclusive lock that giving empty pages back at the end needs, which
-- would stall every claim for a moment.
vacuum (skip_locked, truncate false) pgtide.executions

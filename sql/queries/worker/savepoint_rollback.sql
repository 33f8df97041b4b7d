-- Undoes the effect of the statement that just failed, and only that one.
rollback to savepoint pgtide_job

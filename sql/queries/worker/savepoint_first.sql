-- Opens the savepoint of the first statement of a sql-handler batch.
savepoint pgtide_job

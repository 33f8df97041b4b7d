-- Keeps the previous statement's effect and opens the savepoint of the next one.
release savepoint pgtide_job; savepoint pgtide_job

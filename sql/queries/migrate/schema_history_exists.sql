-- Whether the migration history table and the schema files' table exist yet (a fresh database has
-- neither, one migrated before sql/schema/ existed has only the first).
select to_regclass('pgtide.refinery_schema_history') is not null as present,
       to_regclass('pgtide.schema_files') is not null as files_present

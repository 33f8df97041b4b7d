-- Whether the migration history table exists yet (a fresh database has none).
select to_regclass('pgtide.refinery_schema_history') is not null as present

-- The newest applied migration version.
select max(version)::int as version from pgtide.refinery_schema_history

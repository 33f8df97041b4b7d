-- Migrations recorded below the baseline: those of a database built before they were squashed.
select version, name from pgtide.refinery_schema_history where version < $1 order by version

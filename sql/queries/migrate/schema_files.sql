-- The checksum of every file of sql/schema/ the database holds, and which pgtide applied it.
select name, checksum, pgtide_version from pgtide.schema_files

-- Records that a file of sql/schema/ was applied, in the transaction that applied it.
insert into pgtide.schema_files (name, checksum, pgtide_version)
values ($1, $2, $3)
on conflict (name) do update
   set checksum = excluded.checksum, pgtide_version = excluded.pgtide_version, applied_at = now()

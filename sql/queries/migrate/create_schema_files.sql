-- The migrator's own bookkeeping: which version of each file of sql/schema/ the database holds.
-- refinery's history table records the migrations the same way.
create table if not exists pgtide.schema_files (
    name            text        primary key,
    checksum        text        not null,
    pgtide_version  text        not null,
    applied_at      timestamptz not null default now()
);

comment on table pgtide.schema_files is
    'The files of sql/schema/ (functions, triggers, views, grants) that pgtide migrate applied, with '
    'their checksums: a file whose checksum changed is applied again.';
comment on column pgtide.schema_files.name is 'The file, relative to sql/schema/.';
comment on column pgtide.schema_files.checksum is 'SHA-256 of the file, in hex.';
comment on column pgtide.schema_files.pgtide_version is 'Version of the pgtide that applied it; an older pgtide leaves it alone.';
comment on column pgtide.schema_files.applied_at is 'When it was applied.';

comment on table pgtide.refinery_schema_history is 'Applied schema migrations (refinery''s history).';
comment on column pgtide.refinery_schema_history.version is 'Migration version (V<n>).';
comment on column pgtide.refinery_schema_history.name is 'Migration name.';
comment on column pgtide.refinery_schema_history.applied_on is 'When it was applied.';
comment on column pgtide.refinery_schema_history.checksum is 'Checksum of the migration file.';

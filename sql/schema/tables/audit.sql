-- The audit log, and the roles given a recipe with pgtide.grant.
--
-- The current shape of these tables. `pgtide migrate` does not run this file: the tables are made by
-- the migrations in sql/migrations/ (a baseline, then deltas), and a test checks that they build
-- exactly this. A change here is a change there too (see sql/schema/README.md).

create table pgtide.audit_log (
    id                bigint      generated always as identity primary key,
    at                timestamptz not null default now(),
    actor             text        not null default current_user,
    surface           text        not null,
    application_name  text,
    action            text        not null,
    object_type       text        not null,
    object_id         text        not null,
    old               jsonb,
    new               jsonb
);

comment on table pgtide.audit_log is
    'Who changed what: every task create, change, pause, resume, trigger and delete, queue pause and '
    'limit change, retry_dead and cancel. Written by triggers, so raw SQL is audited too.';
comment on column pgtide.audit_log.id is 'Identity, in the order of the changes.';
comment on column pgtide.audit_log.at is 'Transaction time of the change.';
comment on column pgtide.audit_log.actor is 'current_user that made the change.';
comment on column pgtide.audit_log.surface is 'sql, cli, http, console or runtime (from application_name).';
comment on column pgtide.audit_log.application_name is 'The client''s application_name.';
comment on column pgtide.audit_log.action is 'task.create|update|pause|resume|trigger|delete|finish|invalidate, queue.pause|resume|limit|delete, execution.retry_dead|cancel.';
comment on column pgtide.audit_log.object_type is 'task, queue or execution.';
comment on column pgtide.audit_log.object_id is 'Task name, queue name or execution id.';
comment on column pgtide.audit_log.old is 'The changed fields before (the whole row for a delete).';
comment on column pgtide.audit_log.new is 'The changed fields after (the whole row for a create).';

create index audit_log_object_idx on pgtide.audit_log (object_type, object_id, id);
create index audit_log_at_idx on pgtide.audit_log (at);

create table pgtide.grants (
    role_name   text        primary key,
    role_kind   text        not null,
    granted_at  timestamptz not null default now(),
    granted_by  text        not null default current_user,
    constraint grants_role_kind_known check (role_kind in ('enqueuer', 'operator', 'worker'))
);

comment on table pgtide.grants is 'Roles given a recipe with pgtide.grant, so upgrades can re-apply them.';
comment on column pgtide.grants.role_name is 'The role.';
comment on column pgtide.grants.role_kind is 'enqueuer, operator or worker.';
comment on column pgtide.grants.granted_at is 'When the recipe was last applied.';
comment on column pgtide.grants.granted_by is 'Who applied it.';

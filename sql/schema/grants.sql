-- Privileges. Functions are not executable by PUBLIC: a role gets exactly what its recipe in
-- pgtide.grant gives it (see functions/roles.sql and docs/security.md).
--
-- Applied by `pgtide migrate` after any other file of this folder was applied, so that a function
-- added since is closed to PUBLIC and every role already given a recipe gets the recipe as it is now.

revoke execute on all functions in schema pgtide from public;
alter default privileges in schema pgtide revoke execute on functions from public;

-- Every role may call it: it is the column default of an INSERT an enqueuer role may run.
grant execute on function pgtide.uuid_v7() to public;

-- Roles granted before get what their recipe gives today (an operator may call every function, a
-- worker reads the tables the runtime reads).
do $$
declare
    g record;
begin
    for g in select role_name, role_kind from pgtide.grants order by role_name loop
        if exists (select 1 from pg_roles where rolname = g.role_name) then
            perform pgtide.grant(g.role_kind, g.role_name);
        end if;
    end loop;
end $$;

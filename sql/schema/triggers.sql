-- Triggers: NOTIFY for sleeping workers and schedulers, task bookkeeping, and the audit log.
--
-- Applied by `pgtide migrate` whenever this file changes (see sql/schema/README.md).

-- pgtide.enqueue notifies for its own row, once per transaction, and sets pgtide.enqueueing around
-- its insert so that this trigger does not run for it.
create or replace trigger executions_notify_jobs
    after insert on pgtide.executions
    referencing new table as new_rows
    for each statement
    when (current_setting('pgtide.enqueueing', true) is distinct from 'on')
    execute function pgtide.notify_jobs();

create or replace trigger tasks_touch before update on pgtide.tasks
    for each row execute function pgtide.touch_task();

create or replace trigger tasks_notify_insert_delete after insert or delete on pgtide.tasks
    for each row execute function pgtide.notify_tasks();

create or replace trigger tasks_notify_update after update on pgtide.tasks
    for each row
    when (old.cron is distinct from new.cron
       or old.every is distinct from new.every
       or old.run_at is distinct from new.run_at
       or old.timezone is distinct from new.timezone
       or old.status is distinct from new.status
       or old.misfire is distinct from new.misfire
       or (old.next_run_at is not null and new.next_run_at is null))
    execute function pgtide.notify_tasks();

create or replace trigger tasks_audit_insert_delete after insert or delete on pgtide.tasks
    for each row execute function pgtide.audit_tasks();

-- The scheduler's bookkeeping (next_run_at, last_run_at) is not an admin change and is not audited.
create or replace trigger tasks_audit_update after update on pgtide.tasks
    for each row
    when ((to_jsonb(old) - '{next_run_at,last_run_at,updated_at}'::text[])
          is distinct from (to_jsonb(new) - '{next_run_at,last_run_at,updated_at}'::text[]))
    execute function pgtide.audit_tasks();

create or replace trigger queues_audit after insert or update or delete on pgtide.queues
    for each row execute function pgtide.audit_queues();
create or replace trigger key_limits_audit after insert or update or delete on pgtide.key_limits
    for each row execute function pgtide.audit_key_limits();

create or replace trigger executions_audit_insert after insert on pgtide.executions
    for each row
    when (new.attempt = 1
          and (new.retry_of is not null or (new.task_id is not null and new.scheduled_for is null)))
    execute function pgtide.audit_executions();

create or replace trigger executions_audit_cancel after update of status on pgtide.executions
    for each row
    when (new.status = 'cancelled' and old.status <> 'cancelled')
    execute function pgtide.audit_executions();

-- Scheduler support.

-- The idempotency key of a scheduled fire: one per task and slot, so any number of scheduler
-- instances racing for the same slot insert one row between them.
create function pgtide.slot_key(task_id bigint, slot timestamptz) returns text
language sql immutable parallel safe as $$
    select format('task:%s:%s', task_id, to_char(slot at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
$$;

comment on function pgtide.slot_key(bigint, timestamptz) is
    'Idempotency key of a scheduled fire: "task:<id>:<slot in UTC, RFC 3339, seconds precision>".';

-- When a task's schedule changes (by any means, raw UPDATE included), forget the planned slot so the
-- scheduler recomputes it from the new schedule, and give an invalid or finished task another chance:
-- the scheduler re-validates it and marks it invalid again if it still does not parse.
create or replace function pgtide.touch_task() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    if new.cron is distinct from old.cron
       or new.every is distinct from old.every
       or new.run_at is distinct from old.run_at
       or new.timezone is distinct from old.timezone then
        new.next_run_at := new.run_at;
        if new.status in ('invalid', 'finished') and new.status = old.status then
            new.status := 'active';
            new.last_error := null;
        end if;
    end if;
    return new;
end $$;

comment on function pgtide.touch_task() is
    'Keeps updated_at current, and re-plans a task whose schedule changed.';

-- Pure functions that make keys and delays. They read no table, so the executions table can name
-- uuid_v7 in a column default: these are applied before the tables when a database is built from
-- this folder.
--
-- Applied by `pgtide migrate` whenever this file changes (see sql/schema/README.md).

create or replace function pgtide.uuid_v7() returns uuid language sql volatile parallel safe as $$
    -- The version nibble is the high half of byte 6: 0100 (4) becomes 0111 (7) by setting bits 52
    -- and 53 (set_bit counts from the low bit of byte 0).
    select encode(
               set_bit(set_bit(
                   overlay(uuid_send(gen_random_uuid())
                           placing substring(int8send(
                               floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
                           from 1 for 6),
                   52, 1), 53, 1),
               'hex')::uuid
$$;

comment on function pgtide.uuid_v7() is
    'A time-ordered UUID (version 7): the default idempotency key, so keys fill the unique index in order.';

-- The idempotency key of a scheduled fire: one per task and slot, so any number of scheduler
-- instances racing for the same slot insert one row between them.
create or replace function pgtide.slot_key(task_id bigint, slot timestamptz) returns text
language sql immutable parallel safe as $$
    select format('task:%s:%s', task_id, to_char(slot at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
$$;

comment on function pgtide.slot_key(bigint, timestamptz) is
    'Idempotency key of a scheduled fire: "task:<id>:<slot in UTC, RFC 3339, seconds precision>".';

create or replace function pgtide.retry_key(idempotency_key text, attempt int) returns text
language sql immutable parallel safe as $$
    -- Attempt 1's key is the root; attempt n >= 2 is "<root>#<n>". Only the exact "#<attempt>" suffix
    -- is stripped, so a user key that itself contains '#' survives.
    select case
        when attempt >= 2 and right(idempotency_key, length('#' || attempt)) = '#' || attempt
            then left(idempotency_key, length(idempotency_key) - length('#' || attempt))
        else idempotency_key
    end || '#' || (attempt + 1)
$$;

comment on function pgtide.retry_key(text, int) is
    'Idempotency key of the attempt after the given one: "<attempt 1''s key>#<n>".';

create or replace function pgtide.retry_delay(
    retry_strategy text, retry_base interval, retry_max interval, attempt int
) returns interval language sql immutable parallel safe as $$
    -- Computed in seconds as double precision so that a large attempt number saturates at retry_max
    -- instead of overflowing the interval type.
    select case retry_strategy
        when 'fixed' then retry_base
        else make_interval(secs => least(
            extract(epoch from retry_max)::float8,
            extract(epoch from retry_base)::float8 * power(2::float8, least(greatest(attempt, 1) - 1, 1000))))
    end
$$;

comment on function pgtide.retry_delay(text, interval, interval, int) is
    'Delay before the attempt after failed attempt n, without jitter: fixed gives retry_base, exponential '
    'gives min(retry_max, retry_base * 2^(n-1)). The runtime adds up to 10% random jitter.';

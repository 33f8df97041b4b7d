-- Replaces the squashed migrations' rows with the baseline's, which that database already matches.
with squashed as (
    delete from pgtide.refinery_schema_history where version < $1
)
insert into pgtide.refinery_schema_history (version, name, applied_on, checksum)
values ($1, $2, to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), $3)

-- Serializes migrations across processes (held on a dedicated connection).
select pg_advisory_lock($1)

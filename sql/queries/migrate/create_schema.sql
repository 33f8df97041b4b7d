-- refinery keeps its history table in this schema, so it must exist before refinery starts.
create schema if not exists pgtide

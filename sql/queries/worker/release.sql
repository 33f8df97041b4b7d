-- Gives back rows $2 (attempts $3) that worker $1 claimed ahead of its slots and could not start soon;
-- returns the ids released (see pgtide.release).
select id from pgtide.release($1::text, $2::bigint[], $3::int[]) as r(id)

-- Claims for queues shared by tenants: per-key caps, round-robin dispatch across keys, and rate limits.
--
-- A queue is dispatched by key when it has a key limit (a default or an override) or a per-key rate
-- limit. Its claims are serialized (pgtide.claim_ids locks its pgtide.queues row), so a claim counts
-- every running row of a key before it adds to them: no two workers can together overshoot a cap,
-- and the round-robin cursor and the rate log are read and written by one claim at a time.
--
-- Every probe orders by the key expression first, though the key is fixed or only bounded, and runs
-- with sorts disabled: only executions_key_claim_idx gives that order without a sort. A plan is
-- generic and cached for the connection, perhaps while the table was still empty, and with the
-- statistics of an empty table the claim index (queue, priority, ...) looked as cheap: a claim then
-- read every due row of the queue for each key it probed, 1.5 s per claim at 20,000 due rows.
--
-- Why the cost does not grow with the number of keys: the keys are never listed. A claim walks the
-- distinct keys of the queue's due rows from where the last claim stopped, one probe of the
-- (queue, key, priority, visible_at, id) index per key, until it has as many keys with room as it
-- wants rows (or has come round to where it started). It visits at most max_rows keys with room, plus
-- the keys at their cap, which are at most running rows / cap. Then it takes each key's head rows in
-- the key's own order (priority, then due time) and interleaves them: every key's first row, then
-- every key's second, and so on. A key with a backlog of 100,000 gets one row per round like a key
-- with one.
--
-- Applied by `pgtide migrate` whenever this file changes (see sql/schema/README.md).

-- Starts a rate limit still allows now: max_starts minus the starts of the last `per`.
--
-- The clock, not now(): a claim's transaction may have started before it waited for the queue's lock,
-- and the starts it records must come after every start it counted. Claims of a rate-limited queue
-- are serialized, so the log this keeps is in time order.
create or replace function pgtide.rate_room(queue text, concurrency_key text, max_starts int, per interval)
returns int language plpgsql stable as $$
#variable_conflict use_column
begin
    return rate_room.max_starts - coalesce((
        select count(*)::int
          from pgtide.rate_windows w, unnest(w.starts) as s(at)
         where w.queue = rate_room.queue
           and w.concurrency_key = rate_room.concurrency_key
           and s.at > clock_timestamp() - rate_room.per), 0);
end $$;

comment on function pgtide.rate_room(text, text, int, interval) is
    'Internal (claims): how many starts the rate limit of queue (or of its key) allows now.';

-- Records the starts of the rows `ids` just claimed at `at` (their started_at) in the logs of the
-- rate-limited queues among them: one log per queue, or per key with per_key; each keeps its latest
-- rate_max_starts starts.
create or replace function pgtide.record_starts(ids bigint[], at timestamptz)
returns void language plpgsql volatile as $$
#variable_conflict use_column
begin
    insert into pgtide.rate_windows as w (queue, concurrency_key, starts)
    select g.queue, g.k, array_fill(record_starts.at, array[least(g.n, g.max_starts)])
      from (select e.queue,
                   case when q.rate_per_key then coalesce(e.concurrency_key, '') else '' end as k,
                   count(*)::int as n,
                   min(q.rate_max_starts) as max_starts
              from pgtide.executions e
              join pgtide.queues q on q.name = e.queue
             where e.id = any (record_starts.ids)
               and q.rate_max_starts is not null
             group by 1, 2) g
    on conflict (queue, concurrency_key) do update
       set starts = (w.starts || excluded.starts)[greatest(1, cardinality(w.starts)
                        + cardinality(excluded.starts)
                        - (select q.rate_max_starts from pgtide.queues q where q.name = w.queue) + 1):];
end $$;

comment on function pgtide.record_starts(bigint[], timestamptz) is
    'Internal (claims): records the starts of rows just claimed at `at` in the sliding logs of their '
    'rate-limited queues (per key with per_key), keeping the latest rate_max_starts of each.';

-- Locks and returns the ids of up to max_rows due rows of one queue dispatched by key. The caller
-- holds the queue's pgtide.queues row lock and records the starts a rate limit counts
-- (pgtide.claim). Moves the round-robin cursor.
create or replace function pgtide.claim_keys(queue text, max_rows int)
returns bigint[] language plpgsql volatile as $$
#variable_conflict use_column
declare
    s pgtide.queues;
    budget int;
    cursor_key text;
    -- The keys with room, in walk order, and each one's room.
    keys text[] := '{}';
    rooms int[] := '{}';
    walked text[];
    more_keys text[];
    more_rooms int[];
    lo text;
    hi text;
    wrapped boolean;
    share int;
    sorting text;
    busy_keys text[] := '{}';
    busy_counts int[] := '{}';
    ids bigint[];
    last_key text;
begin
    select * into s from pgtide.queues q where q.name = claim_keys.queue;
    budget := claim_keys.max_rows;
    if s.concurrency_limit is not null then
        budget := least(budget, s.concurrency_limit - (
            select count(*) from pgtide.executions r
             where r.status = 'running' and r.queue = claim_keys.queue)::int);
    end if;
    if s.rate_max_starts is not null and not s.rate_per_key then
        budget := least(budget, pgtide.rate_room(claim_keys.queue, '', s.rate_max_starts, s.rate_per));
    end if;
    if budget <= 0 then
        return '{}';
    end if;

    select c.last_key into cursor_key from pgtide.key_cursors c where c.queue = claim_keys.queue;
    -- The keys running now, counted once: the rows running in one queue are bounded by its workers'
    -- slots (and what they claimed ahead), whatever the number of keys.
    if s.key_concurrency_limit is not null
       or exists (select 1 from pgtide.key_limits kl where kl.queue = claim_keys.queue) then
        select coalesce(array_agg(g.k), '{}'), coalesce(array_agg(g.n), '{}')
          into busy_keys, busy_counts
          from (select coalesce(r.concurrency_key, '') as k, count(*)::int as n
                  from pgtide.executions r
                 where r.status = 'running' and r.queue = claim_keys.queue
                 group by 1) g;
    end if;
    sorting := current_setting('enable_sort');
    perform set_config('enable_sort', 'off', true);
    -- A disabled sort adds a huge cost to any plan that still needs one, and a plan that costly
    -- would be JIT-compiled (200 ms, every claim): claims never need the JIT.
    perform set_config('jit', 'off', true);
    -- The walk: the keys after the cursor, then from the first key round to the cursor itself.
    lo := cursor_key;
    hi := null;
    wrapped := cursor_key is null;
    loop
        with recursive walk(k, n) as (
            select case when lo is null
                        then (select coalesce(e.concurrency_key, '')
                                from pgtide.executions e
                               where e.status = 'queued' and e.queue = claim_keys.queue
                               order by coalesce(e.concurrency_key, '')
                               limit 1)
                        else (select coalesce(e.concurrency_key, '')
                                from pgtide.executions e
                               where e.status = 'queued' and e.queue = claim_keys.queue
                                 and coalesce(e.concurrency_key, '') > lo
                               order by coalesce(e.concurrency_key, '')
                               limit 1) end,
                   1
            union all
            select (select coalesce(e.concurrency_key, '')
                      from pgtide.executions e
                     where e.status = 'queued' and e.queue = claim_keys.queue
                       and coalesce(e.concurrency_key, '') > w.k
                     order by coalesce(e.concurrency_key, '')
                     limit 1),
                   w.n + 1
              from walk w
             where w.k is not null
               and (hi is null or w.k < hi)
               and w.n < budget - cardinality(keys)
        ), inside as (
            select w.k, w.n from walk w where w.k is not null and (hi is null or w.k <= hi)
        ), roomy as (
            select i.k, i.n,
                   least(case when coalesce(kl.concurrency_limit, s.key_concurrency_limit) is null
                              then claim_keys.max_rows
                              else coalesce(kl.concurrency_limit, s.key_concurrency_limit)
                                   - coalesce(b.n, 0) end,
                         case when s.rate_per_key
                              then pgtide.rate_room(claim_keys.queue, i.k, s.rate_max_starts, s.rate_per)
                              else claim_keys.max_rows end) as room
              from inside i
              left join pgtide.key_limits kl
                     on kl.queue = claim_keys.queue and kl.concurrency_key = i.k
              left join unnest(busy_keys, busy_counts) as b(k, n) on b.k = i.k
        )
        select array_agg(i.k order by i.n),
               (select array_agg(r.k order by r.n) from roomy r where r.room > 0),
               (select array_agg(r.room::int order by r.n) from roomy r where r.room > 0)
          into walked, more_keys, more_rooms
          from inside i;
        keys := keys || coalesce(more_keys, '{}');
        rooms := rooms || coalesce(more_rooms, '{}');
        exit when cardinality(keys) >= budget;
        if coalesce(cardinality(walked), 0) > 0
           and (hi is null or walked[cardinality(walked)] < hi) then
            -- The walk stopped for its step budget with keys left in this stretch: go on from there.
            lo := walked[cardinality(walked)];
            -- A stretch that ended at its own bound has nothing left; otherwise its last step may
            -- have been the last key: the next pass finds that out with one probe.
            continue;
        end if;
        exit when wrapped;
        -- Round from the first key to the cursor.
        wrapped := true;
        lo := null;
        hi := cursor_key;
    end loop;

    if cardinality(keys) = 0 then
        perform set_config('enable_sort', sorting, true);
        return '{}';
    end if;

    -- Each key's head rows in its own order, interleaved: every key's first, then every key's second.
    -- A key offers at most twice its even share of the claim, so a claim over a few keys locks a
    -- few hundred rows rather than its size times the keys, and still fills when some keys have
    -- fewer rows than their share.
    share := least(budget, 2 * ceil(budget::numeric / cardinality(keys))::int);
    with candidates as (
        select c.k, c.room, c.n from unnest(keys, rooms) with ordinality as c(k, room, n)
    ), heads as (
        select h.id, h.rank, c.n, c.k
          from candidates c
         cross join lateral (
                select l.id, row_number() over (order by l.priority, l.visible_at, l.id) as rank
                  from (select e.id, e.priority, e.visible_at
                          from pgtide.executions e
                         where e.status = 'queued'
                           and e.queue = claim_keys.queue
                           -- A range, not an equality: with an equality the planner drops the
                           -- key from the order, and the claim index gives the rest of it.
                           and coalesce(e.concurrency_key, '') >= c.k
                           and coalesce(e.concurrency_key, '') <= c.k
                         order by coalesce(e.concurrency_key, ''), e.priority, e.visible_at, e.id
                         limit least(c.room, share)
                           for update skip locked) l
               ) h
    ), taken as (
        select h.id, h.k, h.rank, h.n from heads h order by h.rank, h.n limit budget
    )
    select array_agg(t.id),
           (select t2.k from taken t2 order by t2.rank desc, t2.n desc limit 1)
      into ids, last_key
      from taken t;
    perform set_config('enable_sort', sorting, true);

    if last_key is not null then
        insert into pgtide.key_cursors as c (queue, last_key) values (claim_keys.queue, last_key)
        on conflict (queue) do update set last_key = excluded.last_key;
    end if;
    return coalesce(ids, '{}');
end $$;

comment on function pgtide.claim_keys(text, int) is
    'Internal (pgtide.claim_ids for a queue with a key limit or a per-key rate limit): locks and '
    'returns the ids of up to max_rows due rows, round-robin across concurrency keys from where the '
    'last claim stopped, each key''s cap and rate honoured.';

-- How long until a rate limit lets one of these queues start a job it has waiting: the worker sleeps
-- that long (or until a notification) instead of polling. A window that opened in the few
-- milliseconds since the worker's claim was refused answers 0, so the worker claims again at once;
-- one that has been open longer (the claim came back short for another reason) is no reason to wake.
create or replace function pgtide.rate_wait(queues text[]) returns float8
language plpgsql stable as $$
#variable_conflict use_column
begin
    return (
        -- (greatest() skips a NULL: with no window the minimum must stay NULL, not become 0.)
        select case when count(*) > 0
                    then greatest(0, extract(epoch from min(
                             w.starts[cardinality(w.starts) - q.rate_max_starts + 1]
                             + q.rate_per - clock_timestamp())))::float8 end
          from pgtide.queues q
          join pgtide.rate_windows w on w.queue = q.name
         where q.name = any (rate_wait.queues)
           and q.rate_max_starts is not null
           and not q.paused
           and cardinality(w.starts) >= q.rate_max_starts
           and w.starts[cardinality(w.starts) - q.rate_max_starts + 1]
               > clock_timestamp() - q.rate_per - interval '50 milliseconds'
           and (w.concurrency_key = '' and not q.rate_per_key
                or q.rate_per_key)
           and exists (select 1 from pgtide.executions e
                        where e.status = 'queued' and e.queue = q.name
                          and (not q.rate_per_key
                               or coalesce(e.concurrency_key, '') = w.concurrency_key)));
end $$;

comment on function pgtide.rate_wait(text[]) is
    'Internal (the worker''s idle wait): seconds until a rate limit of one of queues allows a start '
    'that a due row waits for (0 when one just did); NULL when none holds one back.';

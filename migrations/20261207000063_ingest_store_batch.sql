-- A batch of inbound messages stored in one statement (issue 12).
--
-- The ingest committer stored a batch in six round trips: BEGIN with the tenant context, the
-- conversation touch, the event insert, the delivery fan-out (with `enqueue_jobs`), COMMIT, plus
-- the routing lookup before them. At a steady 200 events/s on two shared cores each round trip is
-- a wake-up of the API and of its backend that can wait behind every other runnable process, and
-- the committer's next batch waits for the whole sequence. `ingest_store_batch` does the writes
-- of the common batch (customer messages, postbacks, referrals, edits, unknown kinds: events
-- whose effects touch no earlier row) as one statement; run outside an explicit transaction,
-- Postgres commits it on its own, as `send_accept_batch` does for sends. Batches with echoes,
-- reactions, read receipts, unsends or unrouted events keep the transaction in Rust
-- (`router_core::inbound::store_batch`).
--
-- The three statements become PL/pgSQL functions that both ways call, so there is one copy of
-- each, and each is planned once per connection (PL/pgSQL caches its plans, as for
-- `enqueue_jobs` in 000062). Their bodies are the statements the Rust code held until now
-- (`db::inbound::touch_conversations`, `db::inbound::insert_events`,
-- `db::deliveries::insert_with_jobs`), with the same one-plan shapes (index probes in LATERAL
-- subqueries), except that the conversation update now finds its rows by primary key
-- (`= any (array(...))`): as a join, its generic plan on a never-analysed table was a hash join
-- over a sequential scan. `tests/it/plans.rs` checks their plans through `auto_explain`.

-- The conversation of each key, created or moved forward (the window only moves forward).
-- Lock-light: existing conversations are read, and only those whose window moves are locked and
-- updated; keys with no row are inserted with `on conflict do nothing`. A key another
-- transaction inserted concurrently (invisible to the first statement's snapshot) is upserted
-- by the locking form in a second statement, for those keys only. Rows are taken in
-- `(account, contact)` order, the same in every transaction.
create function touch_conversations(
    p_merchant uuid,
    p_conv_id  uuid[],
    p_account  uuid[],
    p_contact  text[],
    p_at       timestamptz[]
)
returns table (account_id uuid, contact_igsid text, conversation_id uuid)
language plpgsql volatile
as $$
#variable_conflict use_column
declare
    v_a uuid[];
    v_k text[];
    v_c uuid[];
begin
    with k as (
        select distinct on (a, k) i, a, k, max(t) over (partition by a, k) as t
          from unnest(p_conv_id, p_account, p_contact, p_at) as u (i, a, k, t)
         order by a, k
    ),
    found as (
        select k.i, k.a, k.k, k.t, c.conversation_id, c.last_inbound_at
          from k
          left join lateral (
                select c.conversation_id, c.last_inbound_at from conversations c
                 where c.account_id = k.a and c.contact_igsid = k.k
                 limit 1
               ) c on true
    ),
    ins as (
        insert into conversations (conversation_id, merchant_id, account_id, contact_igsid, last_inbound_at)
        select i, p_merchant, a, k, t from found
         where conversation_id is null
         order by a, k
        on conflict on constraint conversations_account_contact_key do nothing
        returning account_id, contact_igsid, conversation_id
    ),
    moved as (
        select l.conversation_id, f.t
          from (select conversation_id, t, a, k from found
                 where conversation_id is not null and t is not null
                   and (last_inbound_at is null or last_inbound_at < t)
                 order by a, k
                offset 0) f
         cross join lateral (
               select c.conversation_id from conversations c where c.conversation_id = f.conversation_id
                  for update
             ) l
    ),
    upd as (
        update conversations c
           set last_inbound_at = greatest(c.last_inbound_at,
                                          (select m.t from moved m where m.conversation_id = c.conversation_id))
         where c.conversation_id = any (array(select conversation_id from moved))
    ),
    touched as (
        select account_id as a, contact_igsid as k, conversation_id as c from ins
        union all
        select a, k, conversation_id from found where conversation_id is not null
    )
    select coalesce(array_agg(a), '{}'), coalesce(array_agg(k), '{}'), coalesce(array_agg(c), '{}')
      into v_a, v_k, v_c
      from touched;

    return query select * from unnest(v_a, v_k, v_c);

    if cardinality(v_a) < (select count(distinct (a, k)) from unnest(p_account, p_contact) as u (a, k)) then
        return query
        insert into conversations as c (conversation_id, merchant_id, account_id, contact_igsid, last_inbound_at)
        select distinct on (a, k) i, p_merchant, a, k, max(t) over (partition by a, k)
          from unnest(p_conv_id, p_account, p_contact, p_at) as u (i, a, k, t)
         where not exists (select 1 from unnest(v_a, v_k) as f (a, k) where f.a = u.a and f.k = u.k)
         order by a, k
        on conflict on constraint conversations_account_contact_key do update
           set last_inbound_at = greatest(c.last_inbound_at, excluded.last_inbound_at)
        returning c.account_id, c.contact_igsid, c.conversation_id;
    end if;
end
$$;

-- Stores a merchant's events, skipping those already stored (`(merchant_id, event_id)`);
-- returns the ids of the newly stored ones.
create function insert_inbound_events(
    p_merchant uuid,
    p_id       uuid[],
    p_account  uuid[],
    p_conv     uuid[],
    p_event_id text[],
    p_kind     text[],
    p_ig       text[],
    p_sender   text[],
    p_mid      text[],
    p_content  jsonb[],
    p_raw      jsonb[],
    p_test     boolean[],
    p_occurred timestamptz[]
)
returns setof uuid
language plpgsql volatile
as $$
begin
    return query
    insert into inbound_events (inbound_event_id, merchant_id, account_id, conversation_id, event_id, kind,
                                instagram_account_id, sender_id, instagram_message_id, content, raw, is_test, result,
                                occurred_at)
    select i, p_merchant, a, c, e, k, g, s, m, ct, r, t, 'stored', o
      from unnest(p_id, p_account, p_conv, p_event_id, p_kind, p_ig, p_sender, p_mid, p_content, p_raw, p_test,
                  p_occurred)
           as u (i, a, c, e, k, g, s, m, ct, r, t, o)
    on conflict on constraint inbound_events_merchant_event_key do nothing
    returning inbound_events.inbound_event_id;
end
$$;

-- For each event, one delivery per endpoint of its account (not removed) whose filter takes the
-- event (`p_endpoint_test` goes to every endpoint; a duplicate `(merchant_id, event_id,
-- endpoint_id)` is skipped), and their jobs through `enqueue_jobs`, ordered
-- `wh:{endpoint}:{conversation}`. The first endpoint of an event gets `p_delivery` and `p_job`;
-- further endpoints (fan-out) get a fresh id, substituted into a copy of the job. Returns the
-- delivery ids created.
create function insert_deliveries_with_jobs(
    p_delivery      uuid[],
    p_merchant      uuid[],
    p_account       uuid[],
    p_event_type    text[],
    p_event_id      text[],
    p_body          text[],
    p_conv          text[],
    p_job           jsonb[],
    p_job_kind      text,
    p_max_attempts  int,
    p_endpoint_test text
)
returns setof uuid
language plpgsql volatile
as $$
begin
    return query
    with input as (
        select * from unnest(p_delivery, p_merchant, p_account, p_event_type, p_event_id, p_body, p_conv, p_job)
                 with ordinality as t (delivery_id, merchant_id, account_id, event_type, event_id, body, conv, job, n)
    ),
    targets as (
        select i.*, e.endpoint_id,
               row_number() over (partition by i.n order by e.is_primary desc, e.endpoint_id) as k
          from input i
         cross join lateral (
               select e.endpoint_id, e.is_primary from webhook_endpoints e
                where e.account_id = i.account_id and e.deleted_at is null
                  and (e.event_types is null or i.event_type = any(e.event_types) or i.event_type = p_endpoint_test)
               offset 0
             ) e
    ),
    ids as (
        select t.*, case when t.k = 1 then t.delivery_id else gen_random_uuid() end as id from targets t
    ),
    ins as (
        insert into webhook_deliveries (delivery_id, merchant_id, account_id, endpoint_id, event_type, event_id, payload,
                                        ordering_key)
        select id, merchant_id, account_id, endpoint_id, event_type, event_id, body, 'wh:' || endpoint_id || ':' || conv
          from ids
         order by n, k
        on conflict on constraint webhook_deliveries_merchant_event_endpoint_key do nothing
        returning delivery_id, merchant_id, account_id, ordering_key
    ),
    jobs_ins as (
        select q.job_id
          from (select array_agg(p_job_kind order by x.n, x.k) as k,
                       array_agg(case when x.k = 1 then x.job
                                      else jsonb_set(x.job, '{delivery_id}', to_jsonb(x.id)) end
                                 order by x.n, x.k) as p,
                       array_agg(ins.merchant_id order by x.n, x.k) as m,
                       array_agg(ins.account_id order by x.n, x.k) as a,
                       array_agg(ins.ordering_key order by x.n, x.k) as o,
                       array_agg(p_max_attempts order by x.n, x.k) as att
                  from ins join ids x on x.id = ins.delivery_id) agg
         cross join lateral enqueue_jobs(agg.k, agg.p, agg.m, agg.a, agg.o, '{}', '{}', agg.att) as q (job_id)
    )
    select ins.delivery_id from ins, (select count(*) from jobs_ins) j;
end
$$;

-- A batch of events whose effects touch no earlier row, for any number of merchants, in one
-- statement: per merchant (in id order, as every ingest transaction takes them), under its RLS
-- context, the conversations, the events, and for each newly stored event with a CRM event type
-- its deliveries and jobs. A delivery body arrives in two parts around its `conversation_id`
-- value, known only here: `p_body_head || <conversation id as JSON> || p_body_tail` (a null tail:
-- the head is the whole body). Plans are the cached generic ones (one reasonable plan each).
-- Returns the ids of the newly stored events (the others were duplicates).
create function ingest_store_batch(
    p_merchant      uuid[],
    p_id            uuid[],
    p_account       uuid[],
    p_event_id      text[],
    p_kind          text[],
    p_ig            text[],
    p_sender        text[],
    p_mid           text[],
    p_content       jsonb[],
    p_raw           jsonb[],
    p_test          boolean[],
    p_occurred      timestamptz[],
    p_conv_id       uuid[],
    p_window_at     timestamptz[],
    p_delivery      uuid[],
    p_event_type    text[],
    p_body_head     text[],
    p_body_tail     text[],
    p_job           jsonb[],
    p_job_kind      text,
    p_max_attempts  int,
    p_endpoint_test text
)
returns setof uuid
language plpgsql volatile
as $$
declare
    v_merchant uuid;
    v_n        bigint[];
    v_a        uuid[];
    v_k        text[];
    v_c        uuid[];
    v_conv     uuid[];
    v_stored   uuid[];
begin
    perform set_config('plan_cache_mode', 'force_generic_plan', true);
    for v_merchant in select distinct m from unnest(p_merchant) as m order by 1 loop
        perform set_config('app.merchant_id', v_merchant::text, true);

        select coalesce(array_agg(t.account_id), '{}'), coalesce(array_agg(t.contact_igsid), '{}'),
               coalesce(array_agg(t.conversation_id), '{}')
          into v_a, v_k, v_c
          from touch_conversations(
                   v_merchant,
                   array(select i from unnest(p_merchant, p_conv_id) as u (m, i) where m = v_merchant),
                   array(select a from unnest(p_merchant, p_account) as u (m, a) where m = v_merchant),
                   array(select s from unnest(p_merchant, p_sender) as u (m, s) where m = v_merchant),
                   array(select w from unnest(p_merchant, p_window_at) as u (m, w) where m = v_merchant)
               ) t;

        -- The merchant's events in batch order, each with its conversation (the touch returns one
        -- row per key).
        select array_agg(e.n order by e.n), array_agg(c.c order by e.n)
          into v_n, v_conv
          from unnest(p_merchant, p_account, p_sender) with ordinality as e (m, a, s, n)
          left join unnest(v_a, v_k, v_c) as c (a, k, c) on c.a = e.a and c.k = e.s
         where e.m = v_merchant;

        select coalesce(array_agg(x), '{}') into v_stored
          from insert_inbound_events(
                   v_merchant,
                   array(select p_id[n] from unnest(v_n) as n),
                   array(select p_account[n] from unnest(v_n) as n),
                   v_conv,
                   array(select p_event_id[n] from unnest(v_n) as n),
                   array(select p_kind[n] from unnest(v_n) as n),
                   array(select p_ig[n] from unnest(v_n) as n),
                   array(select p_sender[n] from unnest(v_n) as n),
                   array(select p_mid[n] from unnest(v_n) as n),
                   array(select p_content[n] from unnest(v_n) as n),
                   array(select p_raw[n] from unnest(v_n) as n),
                   array(select p_test[n] from unnest(v_n) as n),
                   array(select p_occurred[n] from unnest(v_n) as n)
               ) as x;

        perform count(*)
          from (select array_agg(p_delivery[d.n] order by d.o) as ids, array_agg(v_merchant order by d.o) as ms,
                       array_agg(p_account[d.n] order by d.o) as accs, array_agg(p_event_type[d.n] order by d.o) as types,
                       array_agg(p_event_id[d.n] order by d.o) as evs,
                       array_agg(case when p_body_tail[d.n] is null then p_body_head[d.n]
                                      else p_body_head[d.n] || coalesce(to_json(d.c)::text, 'null') || p_body_tail[d.n]
                                 end order by d.o) as bodies,
                       array_agg(p_sender[d.n] order by d.o) as convs, array_agg(p_job[d.n] order by d.o) as jobs
                  from unnest(v_n, v_conv) with ordinality as d (n, c, o)
                  join unnest(v_stored) as s (id) on s.id = p_id[d.n]
                 where p_event_type[d.n] is not null) b
         cross join lateral insert_deliveries_with_jobs(b.ids, b.ms, b.accs, b.types, b.evs, b.bodies, b.convs, b.jobs,
                                                        p_job_kind, p_max_attempts, p_endpoint_test)
         where b.ids is not null;

        return query select * from unnest(v_stored);
    end loop;
end
$$;

grant execute on function touch_conversations(uuid, uuid[], uuid[], text[], timestamptz[]) to router_app;
grant execute on function insert_inbound_events(uuid, uuid[], uuid[], uuid[], text[], text[], text[], text[], text[],
                                                jsonb[], jsonb[], boolean[], timestamptz[]) to router_app;
grant execute on function insert_deliveries_with_jobs(uuid[], uuid[], uuid[], text[], text[], text[], text[], jsonb[],
                                                      text, int, text) to router_app;
grant execute on function ingest_store_batch(uuid[], uuid[], uuid[], text[], text[], text[], text[], text[], jsonb[],
                                             jsonb[], boolean[], timestamptz[], uuid[], timestamptz[], uuid[], text[],
                                             text[], text[], jsonb[], text, int, text) to router_app;

-- One enqueue path for every job, and the send path's rules as parameters.
--
-- `enqueue_jobs` is the only statement that inserts into `jobs`. `router_core::queue::enqueue_many`
-- calls it, and so do the set-based writers that enqueue in the same statement as their domain rows
-- (`send_accept_batch` below, CRM event enqueueing, the DLQ redrive). The payloads are built in
-- Rust from the typed jobs of `router_core::jobs` and passed in; nothing here assembles a payload.
-- Arrays are positional (one element per job; a shorter array reads as NULLs, so callers may pass
-- `'{}'` for unique keys and run times). Insertion follows array order, which ordering keys rely
-- on (job_id order = claim order within a key). Jobs whose `unique_key` exists are skipped. One
-- `pg_notify('router_jobs', '')` rides along when anything was inserted (Postgres folds identical
-- notifications of a transaction into one). Runs as the caller: the API's role stays RLS-bound.
create function enqueue_jobs(
    p_kind         text[],
    p_payload      jsonb[],
    p_merchant     uuid[],
    p_account      uuid[],
    p_ordering     text[],
    p_unique       text[],
    p_run_at       timestamptz[],
    p_max_attempts int[]
)
returns setof bigint
language sql volatile
as $$
    with ins as (
        insert into jobs (kind, payload, merchant_id, account_id, ordering_key, unique_key, run_at, max_attempts)
        select k, p, m, a, o, u, coalesce(r, now()), x
          from unnest(p_kind, p_payload, p_merchant, p_account, p_ordering, p_unique, p_run_at, p_max_attempts)
               with ordinality as t (k, p, m, a, o, u, r, x, n)
         where k is not null
         order by n
        on conflict on constraint jobs_unique_key_key do nothing
        returning job_id
    ),
    wake as (
        select pg_notify('router_jobs', '') where exists (select 1 from ins)
    )
    select job_id from ins, (select count(*) from wake) w
$$;

grant execute on function enqueue_jobs(text[], jsonb[], uuid[], uuid[], text[], text[], timestamptz[], int[])
    to router_app;

-- `send_accept_batch` (first version: 20261122000006, whose header explains the batch) now takes
-- the rules it applies from Rust instead of holding them (`router_core::db::messages::AcceptRules`):
--   p_sandbox_only  per request: the key may only send through sandbox accounts (a `router_test_`
--                   key); a live account answers `test_key_on_live`
--   p_window_secs   per request: how long after the contact's last inbound message the account may
--                   still write (24 h, or 7 days with the HUMAN_AGENT tag)
-- and its send jobs' payloads and ordering keys (`router_core::jobs::SendMessage`), which it hands
-- to `enqueue_jobs` like every other writer.
drop function send_accept_batch(int[], uuid[], uuid[], text[], text[], bytea[], boolean[], boolean[], uuid[], text[],
                                jsonb[], jsonb[], text[], jsonb[], uuid[], timestamptz[], int[], jsonb[],
                                double precision, int, text, text);

create function send_accept_batch(
    p_n             int[],
    p_merchant      uuid[],
    p_account       uuid[],
    p_recipient     text[],
    p_key           text[],
    p_hash          bytea[],
    p_sandbox_only  boolean[],
    p_window_secs   double precision[],
    p_message_id    uuid[],
    p_text          text[],
    p_attachment    jsonb[],
    p_quick_replies jsonb[],
    p_tag           text[],
    p_metadata      jsonb[],
    p_api_key       uuid[],
    p_created_at    timestamptz[],
    p_parts         int[],
    p_response      jsonb[],
    p_job_payload   jsonb[],
    p_job_ordering  text[],
    p_ttl_secs      double precision,
    p_job_kind      text,
    p_max_attempts  int
)
returns table (
    n               int,
    outcome         text,
    account_status  text,
    status_reason   text,
    last_inbound_at timestamptz,
    response_status int,
    response_body   jsonb,
    request_hash    bytea
)
language plpgsql volatile
as $$
#variable_conflict use_column
declare
    v_merchant uuid;
begin
    for v_merchant in select distinct m from unnest(p_merchant) as m loop
        perform set_config('app.merchant_id', v_merchant::text, true);
        return query
        with input as (
            select t.*
              from unnest(p_n, p_merchant, p_account, p_recipient, p_key, p_hash, p_sandbox_only, p_window_secs,
                          p_message_id, p_text, p_attachment, p_quick_replies, p_tag, p_metadata, p_api_key,
                          p_created_at, p_parts, p_response, p_job_payload, p_job_ordering)
                   as t (n, merchant_id, account_id, recipient_id, idempotency_key, request_hash, sandbox_only,
                         window_secs, message_id, message_text, attachment, quick_replies, tag, metadata,
                         api_key_id, created_at, parts_total, response_body, job_payload, job_ordering)
             where t.merchant_id = v_merchant
        ),
        checked as (
            select i.*,
                   case
                       when k.request_hash is not null then 'stored'
                       when a.account_id is null or a.deleted_at is not null then 'account_not_found'
                       when i.sandbox_only and not a.sandbox then 'test_key_on_live'
                       when a.status <> 'active' then 'account_not_active'
                       when c.last_inbound_at is null
                         or c.last_inbound_at < now() - make_interval(secs => i.window_secs)
                           then 'outside_window'
                       else 'ok'
                   end as outcome,
                   a.status as account_status, a.status_reason, c.conversation_id, c.last_inbound_at,
                   k.response_status as stored_status, k.response_body as stored_body,
                   k.request_hash as stored_hash
              from input i
              left join lateral (
                       select s.request_hash, s.response_status, s.response_body
                         from idempotency_keys s
                        where s.merchant_id = i.merchant_id and s.idempotency_key = i.idempotency_key
                          and s.expires_at > now()
                   ) k on true
              left join accounts a on a.account_id = i.account_id
              left join lateral (
                       select cv.conversation_id, cv.last_inbound_at
                         from conversations cv
                        where cv.account_id = i.account_id and cv.contact_igsid = i.recipient_id
                   ) c on true
        ),
        claimed as (
            insert into idempotency_keys (merchant_id, idempotency_key, request_hash, response_status, response_body,
                                          message_id, expires_at)
            select merchant_id, idempotency_key, request_hash, 202, response_body, message_id,
                   now() + make_interval(secs => p_ttl_secs)
              from checked
             where outcome = 'ok' and idempotency_key is not null
            on conflict on constraint idempotency_keys_pkey do update
               set request_hash = excluded.request_hash, response_body = excluded.response_body,
                   message_id = excluded.message_id, expires_at = excluded.expires_at
             where idempotency_keys.expires_at <= now()
            returning idempotency_key
        ),
        accepted as (
            select ch.*
              from checked ch
             where ch.outcome = 'ok'
               and (ch.idempotency_key is null or ch.idempotency_key in (select idempotency_key from claimed))
        ),
        msg as (
            insert into outbound_messages (message_id, merchant_id, account_id, conversation_id, recipient_id,
                                           message_text, attachment, quick_replies, tag, metadata, idempotency_key,
                                           api_key_id, created_at, updated_at, parts_total)
            select message_id, merchant_id, account_id, conversation_id, recipient_id, message_text, attachment,
                   quick_replies, tag, metadata, idempotency_key, api_key_id, created_at, created_at, parts_total
              from accepted
             order by n
        ),
        ev as (
            insert into message_events (merchant_id, message_id, status, occurred_at)
            select merchant_id, message_id, 'pending', created_at from accepted order by n
        ),
        jb as (
            select e.job_id
              from (select array_agg(p_job_kind order by n) as k, array_agg(job_payload order by n) as p,
                           array_agg(merchant_id order by n) as m, array_agg(account_id order by n) as a,
                           array_agg(job_ordering order by n) as o, array_agg(p_max_attempts order by n) as x
                      from accepted) agg
             cross join lateral enqueue_jobs(agg.k, agg.p, agg.m, agg.a, agg.o, '{}', '{}', agg.x) as e (job_id)
        )
        select ch.n,
               case
                   when ch.outcome = 'ok' and ch.idempotency_key is not null
                        and ch.idempotency_key not in (select idempotency_key from claimed)
                       then 'claimed_elsewhere'
                   else ch.outcome
               end,
               ch.account_status, ch.status_reason, ch.last_inbound_at, ch.stored_status, ch.stored_body,
               ch.stored_hash
          from checked ch
          cross join (select count(*) from jb) j;
    end loop;
end
$$;

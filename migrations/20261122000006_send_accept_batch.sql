-- The send path's write in one round trip (api/src/outbox.rs).
--
-- POST /messages/send is group-committed: one committer takes the requests that queued up and
-- writes them in one transaction. Done as one statement per step (tenant context, idempotency
-- lookup, accounts, windows, idempotency claim, outbox insert) that transaction cost eight
-- sequential round trips, about 4.7 ms before any row was written, and a request waits for the
-- batch in flight plus its own (docs/PERFORMANCE.md). This function does the same checks and
-- writes, set-based, so the API sends one statement and Postgres commits it implicitly: one round
-- trip and one WAL flush per batch.
--
-- It runs as the caller (not SECURITY DEFINER): the API's connections are `router_app`, so row
-- level security applies to every row read and written, exactly as before. A batch may hold
-- requests of several merchants; the tenant context is switched per merchant, and each merchant's
-- rows are only read and written while its own context is set.
--
-- Input: one array element per request (requests repeating an idempotency key inside the batch are
-- resolved by the caller and not passed). Output: one row per request, `outcome` being
--   ok                  accepted: message, `pending` history row, send job and idempotency record written
--   stored              the idempotency key is already stored: response_* and request_hash are the
--                       stored ones (the caller replays or answers 409)
--   account_not_found   no such account for this merchant, or deleted
--   test_key_on_live    a router_test_ key and a non-sandbox account
--   account_not_active  account_status / status_reason say why
--   outside_window      no inbound message within 24 h (7 days with HUMAN_AGENT); last_inbound_at
--   claimed_elsewhere   another transaction committed the same key first (the caller reads it)
create function send_accept_batch(
    p_n             int[],
    p_merchant      uuid[],
    p_account       uuid[],
    p_recipient     text[],
    p_key           text[],
    p_hash          bytea[],
    p_test_key      boolean[],
    p_human_agent   boolean[],
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
    p_ttl_secs      double precision,
    p_max_attempts  int,
    p_job_kind      text,
    p_channel       text
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
              from unnest(p_n, p_merchant, p_account, p_recipient, p_key, p_hash, p_test_key, p_human_agent,
                          p_message_id, p_text, p_attachment, p_quick_replies, p_tag, p_metadata, p_api_key,
                          p_created_at, p_parts, p_response)
                   as t (n, merchant_id, account_id, recipient_id, idempotency_key, request_hash, test_key,
                         human_agent, message_id, message_text, attachment, quick_replies, tag, metadata,
                         api_key_id, created_at, parts_total, response_body)
             where t.merchant_id = v_merchant
        ),
        checked as (
            select i.*,
                   case
                       when k.request_hash is not null then 'stored'
                       when a.account_id is null or a.deleted_at is not null then 'account_not_found'
                       when i.test_key and not a.sandbox then 'test_key_on_live'
                       when a.status <> 'active' then 'account_not_active'
                       when c.last_inbound_at is null
                         or (c.last_inbound_at < now() - interval '24 hours'
                             and not (i.human_agent and c.last_inbound_at >= now() - interval '7 days'))
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
            insert into jobs (kind, payload, merchant_id, account_id, ordering_key, max_attempts)
            select p_job_kind, jsonb_build_object('message_id', message_id), merchant_id, account_id,
                   'send:' || account_id || ':' || recipient_id, p_max_attempts
              from accepted
             order by n
            returning 1
        ),
        wake as (
            select pg_notify(p_channel, '') from (select count(*) from jb) j
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
          cross join wake;
    end loop;
end
$$;

-- Message templates (issue 16, seed phase 4): per merchant, named and versioned. Each version is
-- one immutable row; a change (PUT) writes the next version, so a message can always say which
-- text it was rendered from (`outbound_messages.template_id` is the version's row). Delete is soft
-- and covers every version: messages keep their reference, and a new template of the same name
-- continues the numbering, so (name, version) never means two different texts.
--
-- Rendering happens in Rust at accept time (`router_core::templates`): the rendered text is what
-- the message stores and sends, under the same limits as any text. Nothing here parses a body.
create table message_templates (
    template_id    uuid        not null,
    merchant_id    uuid        not null,
    name           text        not null,
    version        int         not null,
    -- The text with `{{variable}}` placeholders.
    body           text        not null,
    -- The declared variables: [{"name": "...", "type": "string" | "integer", "max_length": n?}].
    variables      jsonb       not null,
    -- Stored like outbound_messages' columns of the same names (typed JSON of router_core::outbound).
    quick_replies  jsonb,
    attachment     jsonb,
    created_at     timestamptz not null default now(),
    deleted_at     timestamptz,
    constraint message_templates_pkey primary key (template_id),
    constraint message_templates_merchant_fkey foreign key (merchant_id) references merchants (merchant_id),
    constraint message_templates_version_key unique (merchant_id, name, version),
    constraint message_templates_version_check check (version >= 1),
    constraint message_templates_name_check check (name ~ '^[a-z0-9][a-z0-9_]{0,63}$'),
    constraint message_templates_body_check check (octet_length(body) between 1 and 4096),
    constraint message_templates_variables_check check (jsonb_typeof(variables) = 'array')
);

alter table message_templates enable row level security;
create policy message_templates_tenant_isolation on message_templates
    using (merchant_id = app_current_merchant() or app_is_platform_admin())
    with check (merchant_id = app_current_merchant() or app_is_platform_admin());
grant select, insert, update, delete on message_templates to router_app;

-- Which template version a message was rendered from (null: written by the client).
alter table outbound_messages add column template_id uuid
    constraint outbound_messages_template_fkey references message_templates (template_id);

-- `send_accept_batch` (last version: 20261201000040) gains `p_template`, one template version id
-- (or null) per request, stored on the message. Everything else is as before.
drop function send_accept_batch(int[], uuid[], uuid[], text[], text[], bytea[], boolean[], double precision[],
                                uuid[], text[], jsonb[], jsonb[], text[], jsonb[], uuid[], timestamptz[], int[],
                                jsonb[], jsonb[], text[], double precision, text, int);

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
    p_max_attempts  int,
    p_template      uuid[]
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
                          p_created_at, p_parts, p_response, p_job_payload, p_job_ordering, p_template)
                   as t (n, merchant_id, account_id, recipient_id, idempotency_key, request_hash, sandbox_only,
                         window_secs, message_id, message_text, attachment, quick_replies, tag, metadata,
                         api_key_id, created_at, parts_total, response_body, job_payload, job_ordering,
                         template_id)
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
                                           api_key_id, created_at, updated_at, parts_total, template_id)
            select message_id, merchant_id, account_id, conversation_id, recipient_id, message_text, attachment,
                   quick_replies, tag, metadata, idempotency_key, api_key_id, created_at, created_at, parts_total,
                   template_id
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

grant execute on function send_accept_batch(int[], uuid[], uuid[], text[], text[], bytea[], boolean[],
                                            double precision[], uuid[], text[], jsonb[], jsonb[], text[], jsonb[],
                                            uuid[], timestamptz[], int[], jsonb[], jsonb[], text[],
                                            double precision, text, int, uuid[])
    to router_app;

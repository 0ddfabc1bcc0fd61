-- Message Router: initial schema.
--
-- Conventions (docs/ARCHITECTURE.md has the long form):
-- * lower-case SQL, singular `<table>_id` keys, explicit constraint names so the code can map a
--   violation to an API error by name;
-- * `created_at` / `updated_at` on every table; `updated_at` is kept by a trigger except on `jobs`,
--   whose hot-path statements set it themselves;
-- * every table holding tenant data carries `merchant_id` and has row-level security enabled from
--   this first migration. The API never queries as the owner: each pooled API connection runs
--   `set role router_app` (a NOLOGIN role without BYPASSRLS), and every transaction sets
--   `app.merchant_id` with `set_config(..., true)`. Worker and scheduler connect as the owner and so
--   bypass RLS by design: they work across tenants and never take tenant input.

-- ---------------------------------------------------------------------------------------------
-- Roles. Roles are cluster-wide while this migration runs once per database (and tests run many
-- databases in parallel), so creation tolerates a concurrent creator.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'router_app') then
        begin
            create role router_app nologin nobypassrls;
        exception when duplicate_object or unique_violation then
            null;
        end;
    end if;
end
$$;

do $$
begin
    execute format('grant router_app to %I', current_user);
exception when others then
    -- Already a member, or a superuser (who may `set role` to anything).
    null;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Helpers.
create function set_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at = now();
    return new;
end
$$;

-- The tenant of the current transaction, or null when none was set (then RLS shows nothing).
create function app_current_merchant() returns uuid
language sql stable as $$
    select nullif(current_setting('app.merchant_id', true), '')::uuid
$$;

-- Set only by the API's platform-admin extractor (admin-scoped keys) for the admin endpoints
-- that work across tenants (merchant and key management, the DLQ).
create function app_is_platform_admin() returns boolean
language sql stable as $$
    select coalesce(current_setting('app.platform_admin', true), '') = 'on'
$$;

-- ---------------------------------------------------------------------------------------------
create table merchants (
    merchant_id uuid not null,
    name        text not null,
    status      text not null default 'active',
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint merchants_pkey primary key (merchant_id),
    constraint merchants_status_check check (status in ('active', 'suspended')),
    constraint merchants_name_check check (length(name) between 1 and 200)
);

-- API keys: only HMAC-SHA256(API_KEY_SALT, key) is stored; lookups are by that hash.
-- merchant_id is null for platform admin keys.
create table api_keys (
    api_key_id   uuid not null,
    merchant_id  uuid,
    name         text not null,
    key_hash     bytea not null,
    key_prefix   text not null,
    environment  text not null,
    scopes       text[] not null,
    account_ids  uuid[],
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    constraint api_keys_pkey primary key (api_key_id),
    constraint api_keys_key_hash_key unique (key_hash),
    constraint api_keys_merchant_fkey foreign key (merchant_id) references merchants (merchant_id),
    constraint api_keys_environment_check check (environment in ('live', 'test')),
    constraint api_keys_scopes_check check (
        scopes <@ array['messages:send', 'messages:read', 'accounts:read', 'accounts:write', 'admin']::text[]
    )
);
create index api_keys_merchant_idx on api_keys (merchant_id);

-- One connected Instagram professional account. Tokens and secrets are AES-256-GCM ciphertext
-- in the text form `<kver>:<base64(nonce || ciphertext)>`.
create table accounts (
    account_id           uuid not null,
    merchant_id          uuid not null,
    instagram_account_id text not null,
    username             text not null,
    access_token_enc     text not null,
    app_secret_enc       text,
    status               text not null default 'active',
    status_reason        text,
    sandbox              boolean not null default false,
    token_expires_at     timestamptz,
    token_refreshed_at   timestamptz,
    token_refresh_failures int not null default 0,
    deleted_at           timestamptz,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    constraint accounts_pkey primary key (account_id),
    constraint accounts_merchant_fkey foreign key (merchant_id) references merchants (merchant_id),
    constraint accounts_merchant_instagram_key unique (merchant_id, instagram_account_id),
    constraint accounts_status_check check (status in ('active', 'inactive', 'error', 'deleted'))
);
create index accounts_instagram_idx on accounts (instagram_account_id) where deleted_at is null;
create index accounts_token_expiry_idx on accounts (token_expires_at) where deleted_at is null;

-- The merchant CRM's delivery endpoint (one per account in v1). During a secret rotation the
-- previous secret keeps signing next to the new one until previous_secret_expires_at.
create table webhook_endpoints (
    endpoint_id                uuid not null,
    merchant_id                uuid not null,
    account_id                 uuid not null,
    url                        text not null,
    secret_enc                 text not null,
    previous_secret_enc        text,
    previous_secret_expires_at timestamptz,
    event_types                text[],
    status                     text not null default 'active',
    disabled_reason            text,
    created_at                 timestamptz not null default now(),
    updated_at                 timestamptz not null default now(),
    constraint webhook_endpoints_pkey primary key (endpoint_id),
    constraint webhook_endpoints_account_key unique (account_id),
    constraint webhook_endpoints_account_fkey foreign key (account_id) references accounts (account_id),
    constraint webhook_endpoints_merchant_fkey foreign key (merchant_id) references merchants (merchant_id),
    constraint webhook_endpoints_status_check check (status in ('active', 'disabled'))
);

-- A conversation is (account, contact): the unit of ordering and of the messaging window.
create table conversations (
    conversation_id  uuid not null,
    merchant_id      uuid not null,
    account_id       uuid not null,
    contact_igsid    text not null,
    contact_username text,
    last_inbound_at  timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    constraint conversations_pkey primary key (conversation_id),
    constraint conversations_account_contact_key unique (account_id, contact_igsid),
    constraint conversations_account_fkey foreign key (account_id) references accounts (account_id),
    constraint conversations_merchant_fkey foreign key (merchant_id) references merchants (merchant_id)
);

create table outbound_messages (
    message_id           uuid not null,
    merchant_id          uuid not null,
    account_id           uuid not null,
    conversation_id      uuid,
    recipient_id         text not null,
    message_text         text,
    attachment           jsonb,
    quick_replies        jsonb,
    tag                  text,
    metadata             jsonb,
    status               text not null default 'pending',
    instagram_message_id text,
    attempts             int not null default 0,
    error_code           text,
    error_message        text,
    error_retryable      boolean,
    idempotency_key      text,
    api_key_id           uuid,
    content_erased_at    timestamptz,
    sent_at              timestamptz,
    delivered_at         timestamptz,
    read_at              timestamptz,
    failed_at            timestamptz,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    constraint outbound_messages_pkey primary key (message_id),
    constraint outbound_messages_account_fkey foreign key (account_id) references accounts (account_id),
    constraint outbound_messages_merchant_fkey foreign key (merchant_id) references merchants (merchant_id),
    constraint outbound_messages_status_check check (status in ('pending', 'sent', 'delivered', 'read', 'failed'))
);
create index outbound_messages_conversation_idx
    on outbound_messages (account_id, recipient_id, created_at desc, message_id desc);
create unique index outbound_messages_instagram_mid_key
    on outbound_messages (account_id, instagram_message_id) where instagram_message_id is not null;
create index outbound_messages_created_idx on outbound_messages (created_at);

-- Status history of outbound messages (append-only).
create table message_events (
    message_event_id bigint generated always as identity,
    merchant_id      uuid not null,
    message_id       uuid not null,
    status           text not null,
    detail           jsonb,
    occurred_at      timestamptz not null default now(),
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    constraint message_events_pkey primary key (message_event_id),
    constraint message_events_message_fkey foreign key (message_id) references outbound_messages (message_id),
    constraint message_events_merchant_fkey foreign key (merchant_id) references merchants (merchant_id)
);
create index message_events_message_idx on message_events (message_id, message_event_id);

-- Every event Meta sent us for a known account, stored idempotently per merchant.
create table inbound_events (
    inbound_event_id     uuid not null,
    merchant_id          uuid not null,
    account_id           uuid,
    conversation_id      uuid,
    event_id             text not null,
    kind                 text not null,
    instagram_account_id text,
    sender_id            text,
    instagram_message_id text,
    content              jsonb,
    raw                  jsonb not null,
    is_test              boolean not null default false,
    result               text not null,
    occurred_at          timestamptz,
    content_erased_at    timestamptz,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    constraint inbound_events_pkey primary key (inbound_event_id),
    constraint inbound_events_merchant_event_key unique (merchant_id, event_id),
    constraint inbound_events_merchant_fkey foreign key (merchant_id) references merchants (merchant_id)
);
create index inbound_events_conversation_idx on inbound_events (account_id, sender_id, created_at);
create index inbound_events_created_idx on inbound_events (created_at);

-- Events addressed to Instagram accounts no merchant has connected (or that could not be parsed
-- far enough to find one). No tenant owns them, so they are kept apart from inbound_events and
-- outside RLS; they are recorded for operators and counted in metrics, never forwarded.
create table unrouted_inbound_events (
    unrouted_event_id    uuid not null,
    instagram_account_id text,
    reason               text not null,
    raw                  jsonb not null,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    constraint unrouted_inbound_events_pkey primary key (unrouted_event_id)
);
create index unrouted_inbound_events_created_idx on unrouted_inbound_events (created_at);

-- One CRM webhook to deliver. delivery_id is the Standard Webhooks `webhook-id`: stable across
-- retries and DLQ redrives. payload holds the exact body bytes sent on every attempt.
create table webhook_deliveries (
    delivery_id      uuid not null,
    merchant_id      uuid not null,
    account_id       uuid not null,
    endpoint_id      uuid,
    event_type       text not null,
    event_id         text not null,
    payload          text not null,
    ordering_key     text,
    status           text not null default 'pending',
    attempts         int not null default 0,
    first_attempt_at timestamptz,
    last_attempt_at  timestamptz,
    next_attempt_at  timestamptz,
    delivered_at     timestamptz,
    dead_at          timestamptz,
    dlq_reason       text,
    last_error       text,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    constraint webhook_deliveries_pkey primary key (delivery_id),
    constraint webhook_deliveries_merchant_event_key unique (merchant_id, event_id),
    constraint webhook_deliveries_merchant_fkey foreign key (merchant_id) references merchants (merchant_id),
    constraint webhook_deliveries_status_check check (status in ('pending', 'delivered', 'dlq', 'skipped'))
);
create index webhook_deliveries_dlq_idx on webhook_deliveries (dead_at, delivery_id) where status = 'dlq';
create index webhook_deliveries_account_idx on webhook_deliveries (account_id, created_at);

create table delivery_attempts (
    attempt_id    bigint generated always as identity,
    merchant_id   uuid not null,
    delivery_id   uuid not null,
    attempt_no    int not null,
    status_code   int,
    latency_ms    int not null,
    error_class   text,
    response_body text,
    attempted_at  timestamptz not null default now(),
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint delivery_attempts_pkey primary key (attempt_id),
    constraint delivery_attempts_delivery_fkey foreign key (delivery_id) references webhook_deliveries (delivery_id),
    constraint delivery_attempts_merchant_fkey foreign key (merchant_id) references merchants (merchant_id)
);
create index delivery_attempts_delivery_idx on delivery_attempts (delivery_id, attempt_id);

-- Idempotency of POST /messages/send, per merchant, kept >= 24 h (expires_at; purged by the
-- scheduler's retention job).
create table idempotency_keys (
    merchant_id     uuid not null,
    idempotency_key text not null,
    request_hash    bytea not null,
    response_status int not null,
    response_body   jsonb not null,
    message_id      uuid,
    expires_at      timestamptz not null,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint idempotency_keys_pkey primary key (merchant_id, idempotency_key),
    constraint idempotency_keys_merchant_fkey foreign key (merchant_id) references merchants (merchant_id)
);
create index idempotency_keys_expires_idx on idempotency_keys (expires_at);

-- The job queue (router_core::queue). A job is deleted when it succeeds; the domain rows keep the
-- outcome. ordering_key: only the oldest unfinished job of a key may be claimed (per-conversation
-- order). Leases: a claimed job is 'running' until locked_until; after that any worker may take it
-- again (at-least-once). unique_key deduplicates (cron slots, one job per domain row).
create table jobs (
    job_id           bigint generated always as identity,
    kind             text not null,
    payload          jsonb not null,
    merchant_id      uuid,
    account_id       uuid,
    ordering_key     text,
    unique_key       text,
    state            text not null default 'available',
    priority         smallint not null default 0,
    attempts         int not null default 0,
    max_attempts     int not null default 25,
    run_at           timestamptz not null default now(),
    locked_until     timestamptz,
    lock_token       uuid,
    locked_by        text,
    last_error       text,
    first_run_at     timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    constraint jobs_pkey primary key (job_id),
    constraint jobs_unique_key_key unique (unique_key),
    constraint jobs_state_check check (state in ('available', 'running'))
);
create index jobs_available_idx on jobs (run_at, job_id) where state = 'available';
create index jobs_running_idx on jobs (locked_until) where state = 'running';
create index jobs_ordering_idx on jobs (ordering_key, job_id) where ordering_key is not null;
create index jobs_account_idx on jobs (account_id) where account_id is not null;

-- Jobs that exhausted their attempts or failed permanently, kept for inspection and redrive.
create table dead_jobs (
    job_id       bigint not null,
    kind         text not null,
    payload      jsonb not null,
    merchant_id  uuid,
    account_id   uuid,
    ordering_key text,
    attempts     int not null,
    last_error   text,
    dead_at      timestamptz not null default now(),
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    constraint dead_jobs_pkey primary key (job_id)
);

-- ---------------------------------------------------------------------------------------------
-- updated_at triggers (not on jobs: see above).
do $$
declare
    t text;
begin
    foreach t in array array['merchants', 'api_keys', 'accounts', 'webhook_endpoints', 'conversations',
                             'outbound_messages', 'message_events', 'inbound_events', 'webhook_deliveries',
                             'delivery_attempts', 'idempotency_keys', 'dead_jobs', 'unrouted_inbound_events']
    loop
        execute format('create trigger %I before update on %I for each row execute function set_updated_at()',
                       t || '_set_updated_at', t);
    end loop;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Row-level security on every tenant table.
do $$
declare
    t text;
begin
    foreach t in array array['merchants', 'api_keys', 'accounts', 'webhook_endpoints', 'conversations',
                             'outbound_messages', 'message_events', 'inbound_events', 'webhook_deliveries',
                             'delivery_attempts', 'idempotency_keys', 'jobs', 'dead_jobs']
    loop
        execute format('alter table %I enable row level security', t);
        execute format(
            'create policy %I on %I using (merchant_id = app_current_merchant() or app_is_platform_admin()) '
            'with check (merchant_id = app_current_merchant() or app_is_platform_admin())',
            t || '_tenant_isolation', t);
    end loop;
end
$$;

grant usage on schema public to router_app;
grant select, insert, update, delete on all tables in schema public to router_app;
grant usage, select on all sequences in schema public to router_app;
grant execute on all functions in schema public to router_app;

-- ---------------------------------------------------------------------------------------------
-- The few cross-tenant reads the API needs before it knows the tenant. SECURITY DEFINER runs them
-- as the owner (who bypasses RLS); each returns only what its caller needs.

-- Authentication: find a key by its hash.
create function auth_find_api_key(p_hash bytea)
returns table (api_key_id uuid, merchant_id uuid, scopes text[], account_ids uuid[],
               environment text, expires_at timestamptz, revoked_at timestamptz)
language sql stable security definer set search_path = public as $$
    select k.api_key_id, k.merchant_id, k.scopes, k.account_ids, k.environment, k.expires_at, k.revoked_at
    from api_keys k where k.key_hash = p_hash
$$;

-- last_used_at is batched in memory and flushed periodically (no write per request).
create function auth_touch_api_keys(p_ids uuid[], p_used timestamptz[])
returns void
language sql volatile security definer set search_path = public as $$
    update api_keys k set last_used_at = greatest(k.last_used_at, u.used_at)
    from unnest(p_ids, p_used) as u (api_key_id, used_at)
    where k.api_key_id = u.api_key_id
$$;

-- Inbound webhooks: route an Instagram account id to its tenant(s).
create function ingest_find_accounts(p_instagram_account_id text)
returns table (account_id uuid, merchant_id uuid, app_secret_enc text, status text)
language sql stable security definer set search_path = public as $$
    select a.account_id, a.merchant_id, a.app_secret_enc, a.status
    from accounts a
    where a.instagram_account_id = p_instagram_account_id and a.deleted_at is null
$$;

revoke all on function auth_find_api_key(bytea) from public;
revoke all on function auth_touch_api_keys(uuid[], timestamptz[]) from public;
revoke all on function ingest_find_accounts(text) from public;
grant execute on function auth_find_api_key(bytea) to router_app;
grant execute on function auth_touch_api_keys(uuid[], timestamptz[]) to router_app;
grant execute on function ingest_find_accounts(text) to router_app;

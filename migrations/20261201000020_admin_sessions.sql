-- Sessions of the admin console (`/admin`, api/src/admin). A browser signs in once with an API key
-- (a platform admin key or a merchant key) and afterwards carries only a random session token in an
-- HttpOnly cookie. Only SHA-256 of that token is stored, so a copy of this table (a backup, a
-- replica) yields no usable session.
--
-- A session acts with exactly the rights of the key it was opened with, and for no longer: the
-- lookup joins `api_keys`, so revoking or expiring the key ends its sessions at the next request
-- (there is no session cache). Revocation also deletes the rows (`db::admin_sessions`).
create table admin_sessions (
    admin_session_id uuid not null,
    token_hash       bytea not null,
    api_key_id       uuid not null,
    merchant_id      uuid,
    expires_at       timestamptz not null,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    constraint admin_sessions_pkey primary key (admin_session_id),
    constraint admin_sessions_token_hash_key unique (token_hash),
    constraint admin_sessions_api_key_fkey foreign key (api_key_id) references api_keys (api_key_id) on delete cascade,
    constraint admin_sessions_merchant_fkey foreign key (merchant_id) references merchants (merchant_id),
    constraint admin_sessions_token_hash_check check (length(token_hash) = 32)
);
create index admin_sessions_api_key_idx on admin_sessions (api_key_id);
create index admin_sessions_expires_idx on admin_sessions (expires_at);

create trigger admin_sessions_set_updated_at before update on admin_sessions
    for each row execute function set_updated_at();

-- Tenant rows like any other: a merchant's transaction sees only its own sessions, the platform
-- admin context all of them (key revocation deletes them from there).
alter table admin_sessions enable row level security;
create policy admin_sessions_tenant_isolation on admin_sessions
    using (merchant_id = app_current_merchant() or app_is_platform_admin())
    with check (merchant_id = app_current_merchant() or app_is_platform_admin());
grant select, insert, update, delete on admin_sessions to router_app;

-- Signing in happens before the tenant is known, so opening, finding and closing a session are
-- the same kind of narrow cross-tenant operation as `auth_find_api_key`: SECURITY DEFINER, pinned
-- search_path, each doing one thing.

-- Opens a session for a key that is still valid; null when the key is revoked, expired or unknown.
-- Expired sessions of the same key are removed on the way (no sweeper needed for a small table).
create function admin_session_open(p_session_id uuid, p_token_hash bytea, p_api_key_id uuid, p_ttl_secs float8)
returns timestamptz
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
    v_expires timestamptz;
begin
    delete from admin_sessions where api_key_id = p_api_key_id and expires_at <= now();
    insert into admin_sessions (admin_session_id, token_hash, api_key_id, merchant_id, expires_at)
    select p_session_id, p_token_hash, k.api_key_id, k.merchant_id, now() + make_interval(secs => p_ttl_secs)
      from api_keys k
     where k.api_key_id = p_api_key_id and k.revoked_at is null and (k.expires_at is null or k.expires_at > now())
    returning expires_at into v_expires;
    return v_expires;
end
$$;

-- The live session of a token hash with its key's rights; nothing when the session expired or its
-- key was revoked or expired meanwhile.
create function admin_session_find(p_token_hash bytea)
returns table (admin_session_id uuid, api_key_id uuid, merchant_id uuid, scopes text[], account_ids uuid[],
               environment text, expires_at timestamptz, revoked_at timestamptz, session_expires_at timestamptz,
               key_name text, key_prefix text)
language sql stable security definer set search_path = public, pg_temp as $$
    select s.admin_session_id, k.api_key_id, k.merchant_id, k.scopes, k.account_ids, k.environment,
           k.expires_at, k.revoked_at, s.expires_at, k.name, k.key_prefix
      from admin_sessions s
      join api_keys k on k.api_key_id = s.api_key_id
     where s.token_hash = p_token_hash and s.expires_at > now()
       and k.revoked_at is null and (k.expires_at is null or k.expires_at > now())
$$;

-- Sign-out.
create function admin_session_close(p_token_hash bytea)
returns void
language sql volatile security definer set search_path = public, pg_temp as $$
    delete from admin_sessions where token_hash = p_token_hash
$$;

revoke all on function admin_session_open(uuid, bytea, uuid, float8) from public;
revoke all on function admin_session_find(bytea) from public;
revoke all on function admin_session_close(bytea) from public;
grant execute on function admin_session_open(uuid, bytea, uuid, float8) to router_app;
grant execute on function admin_session_find(bytea) to router_app;
grant execute on function admin_session_close(bytea) to router_app;

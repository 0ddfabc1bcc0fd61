-- Inbound webhooks: route every Instagram account id of a Meta POST to its tenant(s) in one query
-- (issue 11 item 2: one query per id let a forged 20 000-entry body cost 20 000 round trips before
-- it was refused). Like ingest_find_accounts, SECURITY DEFINER because the lookup crosses
-- tenants before any merchant context exists; it returns only what routing and per-account
-- signature checks need. search_path is pinned with pg_temp last so a caller cannot shadow
-- `accounts` with a temporary table.
create function ingest_find_accounts_many(p_instagram_account_ids text[])
returns table (instagram_account_id text, account_id uuid, merchant_id uuid, app_secret_enc text, status text, sandbox boolean)
language sql stable security definer set search_path = public, pg_temp as $$
    select a.instagram_account_id, a.account_id, a.merchant_id, a.app_secret_enc, a.status, a.sandbox
    from accounts a
    where a.instagram_account_id = any(p_instagram_account_ids) and a.deleted_at is null
    order by a.instagram_account_id, a.account_id
$$;

revoke all on function ingest_find_accounts_many(text[]) from public;
grant execute on function ingest_find_accounts_many(text[]) to router_app;

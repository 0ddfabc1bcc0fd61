-- Inbound routes cached per API process (issue 12; `router_core::route_cache`).
--
-- The ingest committer keeps, per Instagram business id, the account rows
-- `ingest_find_accounts_many` returned, so a single-event Meta POST costs one statement instead of
-- two. It may keep them only while nothing that routing reads has changed: every statement that
-- inserts or deletes `accounts` rows, or sets one of the columns `ingest_find_accounts_many`
-- returns or filters on, notifies `account_routes`, and each API process empties its cache when
-- the notification arrives. Statement-level, so a bulk change notifies once; the notification is
-- sent at commit, never for a rolled-back change. Token refreshes and the other frequent updates
-- of `accounts` set none of these columns and notify nothing. Merchant deletion cascades into
-- `accounts` as a DELETE, which fires the trigger too.
create function notify_account_routes() returns trigger
language plpgsql as $$
begin
    perform pg_notify('account_routes', '');
    return null;
end
$$;

create trigger accounts_routes_changed
    after insert or delete or truncate on accounts
    for each statement execute function notify_account_routes();

create trigger accounts_routes_updated
    after update of instagram_account_id, merchant_id, app_secret_enc, status, sandbox, deleted_at on accounts
    for each statement execute function notify_account_routes();

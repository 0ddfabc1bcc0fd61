-- Several CRM endpoints per account (issue 16): an event is delivered to every endpoint of its
-- account whose filter takes it, each delivery with its own URL, secret, filter, circuit, order
-- and DLQ entry. The account's first endpoint is its primary: the one the account API's
-- `crm_webhook_url`, `webhook_secret` and `event_types` read and write (the single-endpoint API
-- stays a view of it). More endpoints come from /api/v1/accounts/{id}/endpoints.
alter table webhook_endpoints drop constraint webhook_endpoints_account_key;
alter table webhook_endpoints add column is_primary boolean not null default false;
update webhook_endpoints set is_primary = true;
create unique index webhook_endpoints_primary_key on webhook_endpoints (account_id) where is_primary;
-- Removed endpoints stay (their deliveries point at them) but receive nothing new.
alter table webhook_endpoints add column deleted_at timestamptz;
create index webhook_endpoints_account_idx on webhook_endpoints (account_id) where deleted_at is null;

-- One delivery per event and endpoint.
alter table webhook_deliveries drop constraint webhook_deliveries_merchant_event_key;
alter table webhook_deliveries add constraint webhook_deliveries_merchant_event_endpoint_key
    unique nulls not distinct (merchant_id, event_id, endpoint_id);

-- Token refresh bookkeeping: after a failed refresh the next attempt waits (exponential backoff),
-- and the CRM is told (`account.token_expiring`) at most once a day.
alter table accounts
    add column token_refresh_after timestamptz,
    add column token_expiring_notified_at timestamptz;

-- Retention: find old content quickly.
create index inbound_events_erasable_idx on inbound_events (created_at) where content_erased_at is null;
create index outbound_messages_erasable_idx on outbound_messages (created_at) where content_erased_at is null;

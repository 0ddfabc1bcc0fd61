-- Outbound messages longer than Instagram's 1000-byte limit (the API accepts 1000 characters,
-- up to 2 KB of UTF-8) and messages with both an attachment and text are sent as several Graph
-- API calls ("parts"). Every part's mid is kept, in order, so that:
--  * a retry resumes after the last part Meta accepted (never re-sends a part);
--  * echoes and read receipts can be matched by any of the message's mids.
alter table outbound_messages
    add column instagram_message_ids text[] not null default '{}',
    add column parts_total int not null default 1;

create index outbound_messages_mids_idx on outbound_messages using gin (instagram_message_ids);

-- Read receipts mark "everything up to this mid" read: find a conversation's outbound messages
-- quickly by (account, recipient, sent_at).
create index outbound_messages_sent_idx on outbound_messages (account_id, recipient_id, sent_at)
    where sent_at is not null;

-- Ambiguous sends (issue 17): the worker records, right before each Graph Send API call, which
-- part of which message it is about to send. Meta's Send API has no idempotency key, so after a
-- timeout, a lost connection, a 5xx without a Graph error or code 1 (1/1357046: "messages may have
-- been sent anyway") the router cannot know whether Instagram delivered the part. The row tells a
-- later run (or another worker, after a kill -9) that a call may have landed; the send is then held
-- until the part's echo webhook (our account's `is_echo` message to that recipient with that text)
-- arrives, or until the reconciliation window ends. `core/src/reconcile.rs` has the protocol.
--
-- One row per message at most (the part in flight); a definite answer deletes it. No
-- `updated_at` trigger is needed beyond the shared one: rows live for one call or one hold.
create table send_intents (
    message_id    uuid        not null,
    merchant_id   uuid        not null,
    account_id    uuid        not null,
    recipient_id  text        not null,
    -- Index of the part in flight (0-based; parts already accepted are in
    -- outbound_messages.instagram_message_ids).
    part          int         not null,
    -- What the echo of that part carries: 'text' with its text, or the attachment type
    -- ('image', 'video', 'audio', 'file') with match_text null.
    match_kind    text        not null,
    match_text    text,
    -- When the call started; an echo stored before it cannot be this part's.
    started_at    timestamptz not null default now(),
    -- Set when the call's answer was ambiguous: the send waits for the echo until then.
    -- Null while the call is in flight (a run that finds it so died or lost Postgres mid-call:
    -- it waits until started_at + GRAPH_TIMEOUT_SECS + SEND_RECONCILE_WINDOW_SECS).
    hold_until    timestamptz,
    -- The ambiguous answer's error code (instagram_timeout, instagram_ambiguous_result, ...).
    reason        text,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint send_intents_pkey primary key (message_id),
    constraint send_intents_message_fkey foreign key (message_id)
        references outbound_messages (message_id) on delete cascade,
    constraint send_intents_merchant_fkey foreign key (merchant_id) references merchants (merchant_id),
    constraint send_intents_part_check check (part >= 0),
    constraint send_intents_match_check check (
        (match_kind = 'text' and match_text is not null)
        or (match_kind in ('image', 'video', 'audio', 'file') and match_text is null))
);
-- The echo lookup during ingest: (account, recipient) of the echo.
create index send_intents_conversation_idx on send_intents (account_id, recipient_id, started_at);

create trigger send_intents_set_updated_at before update on send_intents
    for each row execute function set_updated_at();

-- Tenant isolation, as on every tenant table (the API's ingest adopts echoes under RLS).
alter table send_intents enable row level security;
create policy send_intents_tenant_isolation on send_intents
    using (merchant_id = app_current_merchant() or app_is_platform_admin())
    with check (merchant_id = app_current_merchant() or app_is_platform_admin());
grant select, insert, update, delete on send_intents to router_app;

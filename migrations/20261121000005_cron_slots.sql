-- Periodic tasks run once per time slot. The maintenance job itself is deleted when it finishes
-- (and with it its unique_key), so the slot is remembered here: a scheduler tick inserts
-- (task, slot) and enqueues the job only when the insert happened. Old slots are purged by the
-- idempotency_cleanup task.
create table cron_slots (
    task       text not null,
    slot       bigint not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint cron_slots_pkey primary key (task, slot)
);

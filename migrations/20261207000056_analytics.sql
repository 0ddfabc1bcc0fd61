-- Analytics (issue 16, seed phase 4): hourly rollups per account, maintained by the scheduler's
-- `analytics_rollup` task (router_core::analytics) and read by GET /api/v1/analytics, so a report
-- over 90 days reads at most 2 160 rows per account instead of scanning message history.
--
-- Each hour's row is recomputed whole from the source tables (delete, then insert) while the
-- hour is recent, so a rerun or two schedulers never count twice. Every metric is keyed by the
-- time it happened (received: the customer's message stored; sent/failed: the status change;
-- reply time: our message accepted; deliveries: the attempt; window expiry: 24 h after the
-- customer's last message), so an hour's numbers are final soon after it ends.
--
-- Latency histograms: counts per bucket of router_core::analytics::{REPLY_BOUNDS_SECS,
-- DELIVERY_BOUNDS_MS} (one more bucket than bounds: the overflow), so medians and p95 over any
-- range are computed from summed buckets, as Prometheus does.
create table analytics_hourly (
    merchant_id        uuid        not null,
    account_id         uuid        not null,
    hour               timestamptz not null,
    received           int         not null default 0,
    sent               int         not null default 0,
    failed             int         not null default 0,
    -- error code -> count of the messages that failed with it in the hour
    failures           jsonb       not null default '{}',
    replies            int         not null default 0,
    reply_hist         bigint[]    not null,
    deliveries_ok      int         not null default 0,
    deliveries_failed  int         not null default 0,
    delivery_hist      bigint[]    not null,
    window_expiries    int         not null default 0,
    updated_at         timestamptz not null default now(),
    constraint analytics_hourly_pkey primary key (account_id, hour),
    constraint analytics_hourly_merchant_fkey foreign key (merchant_id) references merchants (merchant_id),
    constraint analytics_hourly_hour_check check (hour = date_trunc('hour', hour))
);
create index analytics_hourly_merchant_idx on analytics_hourly (merchant_id, hour);

alter table analytics_hourly enable row level security;
create policy analytics_hourly_tenant_isolation on analytics_hourly
    using (merchant_id = app_current_merchant() or app_is_platform_admin())
    with check (merchant_id = app_current_merchant() or app_is_platform_admin());
grant select, insert, update, delete on analytics_hourly to router_app;

-- The same figures per account-day (UTC), summed from the day's hours each time a rollup touches
-- the day: a daily report over 90 days reads 90 rows per account.
create table analytics_daily (
    merchant_id        uuid        not null,
    account_id         uuid        not null,
    day                timestamptz not null,
    received           int         not null default 0,
    sent               int         not null default 0,
    failed             int         not null default 0,
    failures           jsonb       not null default '{}',
    replies            int         not null default 0,
    reply_hist         bigint[]    not null,
    deliveries_ok      int         not null default 0,
    deliveries_failed  int         not null default 0,
    delivery_hist      bigint[]    not null,
    window_expiries    int         not null default 0,
    updated_at         timestamptz not null default now(),
    constraint analytics_daily_pkey primary key (account_id, day),
    constraint analytics_daily_merchant_fkey foreign key (merchant_id) references merchants (merchant_id)
);
create index analytics_daily_merchant_idx on analytics_daily (merchant_id, day);

alter table analytics_daily enable row level security;
create policy analytics_daily_tenant_isolation on analytics_daily
    using (merchant_id = app_current_merchant() or app_is_platform_admin())
    with check (merchant_id = app_current_merchant() or app_is_platform_admin());
grant select, insert, update, delete on analytics_daily to router_app;

-- Where the rollup got to (one row): hours before it are complete. Platform data, no tenant.
create table analytics_progress (
    singleton    boolean     not null default true,
    rolled_until timestamptz not null,
    constraint analytics_progress_pkey primary key (singleton),
    constraint analytics_progress_singleton_check check (singleton)
);

-- The rollup reads status changes and delivery attempts by time. Both tables are append-only in
-- time order, so BRIN indexes serve the range scans at almost no cost to the hot path's inserts.
create index message_events_occurred_brin on message_events using brin (occurred_at);
create index delivery_attempts_attempted_brin on delivery_attempts using brin (attempted_at);

-- Circuit breaker per CRM endpoint, shared by every worker (kept in Postgres so that it needs no
-- Redis and survives restarts). After `consecutive_failures` reaches the threshold the circuit
-- opens until `circuit_open_until`; the first delivery after that is a probe (it pushes
-- `circuit_open_until` forward while in flight, so only one probe runs); success closes the
-- circuit, failure re-opens it for twice as long (`circuit_trips` counts consecutive openings).
alter table webhook_endpoints
    add column consecutive_failures int not null default 0,
    add column circuit_open_until timestamptz,
    add column circuit_trips int not null default 0,
    add column last_success_at timestamptz,
    add column last_failure_at timestamptz;

-- Deliveries still pending past the retry horizon are promoted to the DLQ by the scheduler.
create index webhook_deliveries_pending_idx on webhook_deliveries (first_attempt_at) where status = 'pending';

-- The sweep above and DLQ tooling find a delivery's job by its payload.
create index jobs_delivery_idx on jobs ((payload ->> 'delivery_id')) where kind = 'webhook.deliver';

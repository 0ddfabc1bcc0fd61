-- Retention and unsend without scans: as fast on the hundredth day as on the first (issue 12).
--
-- The retention purge found webhook bodies to redact by parsing every delivery's payload as
-- jsonb (`not (payload::jsonb ? 'content_erased')`) over the whole table, and attempt bodies by an
-- unindexed `created_at` scan: each run read every row ever written, erased or not (30–58 ms on a
-- table of 40 000 deliveries in `router-bench-flows`; linear in the table's age). Deliveries now
-- record when their content was erased, and both purges walk a partial index holding only the
-- rows still to erase, oldest first; erased rows leave it.
--
-- Rows redacted before this migration (payload carrying `content_erased`) have no
-- `content_erased_at`: the purge's next run takes them once more (redaction is idempotent) and
-- stamps them.
alter table webhook_deliveries add column content_erased_at timestamptz;
create index webhook_deliveries_erasable_idx on webhook_deliveries (created_at) where content_erased_at is null;

-- Only failed attempts keep a response body, so this index stays small.
create index delivery_attempts_erasable_idx on delivery_attempts (created_at) where response_body is not null;

-- The claim walks the due jobs of each of its kinds on their own index range.
--
-- `jobs_available_idx (run_at, job_id)` held every kind in one order, and the claim filtered on
-- `kind = any($1)` as it walked. The scheduler's runner claims only `maintenance` jobs, and was
-- woken by every NOTIFY (each API enqueue): with a backlog of sends and deliveries it walked all
-- of them to find none of its own. Seen in `router-proof` on 2026-12-07: with 17 000 due sends
-- and deliveries, claims took 100–270 ms each, half of them the two schedulers', and the
-- workers' own claims waited behind them for the CPU. Leading with `kind`, each kind's walk
-- reads only its own rows (`router_core::queue::claim` runs one per kind and merges them).
create index jobs_available_kind_idx on jobs (kind, run_at, job_id) where state = 'available';
drop index jobs_available_idx;

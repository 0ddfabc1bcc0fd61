-- The claim walks an index in claim order (core/src/queue.rs `claim`).
--
-- The claim used to filter `(available and due) or (running and lease expired)` and order by
-- `priority desc, run_at, job_id`; no index serves that OR with that order, so every claim read the
-- whole jobs table (7.9 ms on a 15 000-job backlog, docs/PERFORMANCE.md). It now takes expired
-- leases from `jobs_running_idx` and due jobs from `jobs_available_idx (run_at, job_id)`, whose
-- leading column bounds the walk (`run_at <= now()`) and stops at the limit (0.2 ms on the same
-- backlog). `priority` was never set by anything (always 0) and, as the leading sort key, would
-- stop the index from bounding the walk: it goes.
alter table jobs drop column priority;

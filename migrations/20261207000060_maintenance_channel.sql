-- `maintenance` jobs are announced on their own channel, `router_maintenance`.
--
-- The scheduler's runner claims only `maintenance` jobs, and it listened on `router_jobs` with the
-- workers: every ingested event and every accepted send woke it into a claim that could find
-- nothing (measured in `router-bench-flows --only p` at 200 events/s: about one claim in three
-- was the scheduler's, each 0.5–0.6 ms of Postgres time). Now each kind of runner hears only of
-- the jobs it runs (`router_core::queue::channels_for`).
create or replace function enqueue_jobs(
    p_kind         text[],
    p_payload      jsonb[],
    p_merchant     uuid[],
    p_account      uuid[],
    p_ordering     text[],
    p_unique       text[],
    p_run_at       timestamptz[],
    p_max_attempts int[]
)
returns setof bigint
language sql volatile
as $$
    with ins as (
        insert into jobs (kind, payload, merchant_id, account_id, ordering_key, unique_key, run_at, max_attempts)
        select k, p, m, a, o, u, coalesce(r, now()), x
          from unnest(p_kind, p_payload, p_merchant, p_account, p_ordering, p_unique, p_run_at, p_max_attempts)
               with ordinality as t (k, p, m, a, o, u, r, x, n)
         where k is not null
         order by n
        on conflict on constraint jobs_unique_key_key do nothing
        returning job_id, kind
    ),
    wake as (
        select pg_notify(c, '')
          from (select distinct case when kind = 'maintenance' then 'router_maintenance' else 'router_jobs' end as c
                  from ins) w
         where coalesce(current_setting('router.enqueue_notify', true), '') <> 'off'
    )
    select job_id from ins, (select count(*) from wake) w
$$;

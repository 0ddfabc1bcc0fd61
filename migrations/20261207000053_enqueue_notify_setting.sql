-- A session can enqueue without waking every worker: `router.enqueue_notify = off`.
--
-- Every `enqueue_jobs` ran `pg_notify`, and Postgres serialises the commits of notifying
-- transactions (a database-wide lock taken in PreCommit_Notify). The worker's completion of each
-- send enqueues its `message.sent` / `message.delivered` webhooks, so at 200 sends/s two hundred
-- commits a second queued on that lock behind the API's (seen in `router-proof` on 2026-12-07 as
-- `COMMIT` waiting on `Lock: object`), and each woke all five listening runners into a claim.
-- The worker does not need to be told: the runner that finished the send claims again right
-- after (a finished job wakes it), and finds those webhooks. The worker's connections set the
-- option (`router_core::db::connect_worker_pool`); the API and the scheduler keep notifying.
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
        returning job_id
    ),
    wake as (
        select pg_notify('router_jobs', '')
         where exists (select 1 from ins)
           and coalesce(current_setting('router.enqueue_notify', true), '') <> 'off'
    )
    select job_id from ins, (select count(*) from wake) w
$$;

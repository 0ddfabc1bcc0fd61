-- `enqueue_jobs` in PL/pgSQL, so its statement is planned once per session (issue 12).
--
-- As a SQL function with a data-modifying CTE it cannot be inlined, and Postgres 15 plans the
-- body of such a function again on every call of the statement that calls it: every ingest batch,
-- send batch and worker completion paid for parsing and planning the insert. PL/pgSQL caches the
-- plan of its query for the session (the connection), and the statement has only one plan (an
-- insert from `unnest`, the unique-key check). Measured with pgbench, one call per statement,
-- the same body: 0.37–0.41 ms a call before, 0.11–0.14 ms after. Behaviour is unchanged: same
-- signature, same rows, same NOTIFY channels and the same `router.enqueue_notify` switch.
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
language plpgsql volatile
as $$
begin
    return query
    with ins as (
        insert into jobs (kind, payload, merchant_id, account_id, ordering_key, unique_key, run_at, max_attempts)
        select k, p, m, a, o, u, coalesce(r, now()), x
          from unnest(p_kind, p_payload, p_merchant, p_account, p_ordering, p_unique, p_run_at, p_max_attempts)
               with ordinality as t (k, p, m, a, o, u, r, x, n)
         where k is not null
         order by n
        on conflict on constraint jobs_unique_key_key do nothing
        returning jobs.job_id, jobs.kind
    ),
    wake as (
        select pg_notify(w.c, '')
          from (select distinct case when ins.kind = 'maintenance' then 'router_maintenance' else 'router_jobs' end as c
                  from ins) w
         where coalesce(current_setting('router.enqueue_notify', true), '') <> 'off'
    )
    select ins.job_id from ins, (select count(*) from wake) cnt;
end
$$;

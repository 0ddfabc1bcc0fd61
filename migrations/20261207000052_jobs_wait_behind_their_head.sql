-- Jobs queued behind the head of their ordering key wait at `run_at = 'infinity'`, out of the
-- claim's way.
--
-- Only the oldest job of an ordering key may run. The claim walks `jobs_available_idx (run_at,
-- job_id)` over due jobs and skips each one that has an older job of its key (an index probe
-- per row). With a backlog most due rows are such followers (a conversation's next messages, the
-- `message.delivered` webhook behind `message.sent`), so every claim probed hundreds of rows:
-- 2.8 ms per claim, 43 s of the 90 s of statement time in a one-minute `router-proof --scenario
-- steady` run, Postgres at 1.5 of the machine's 2 cores, and the backlog that made the claims slow
-- could no longer drain (sends p50 3–10 s against 29 ms when the queue keeps up).
--
-- Now a follower is inserted at 'infinity', past every due row, so the claim's walk stops before
-- it; when a job leaves `jobs` (done, or dead-lettered), `jobs_promote_next` makes the next job of
-- its key due. The claim keeps its own "no older job of my key" check, so order never rests on
-- the parking: a follower made due too early only waits, as before. The one case parking can get
-- wrong is a follower inserted while its head is being deleted by another transaction (the
-- trigger cannot see the uncommitted follower): `unpark_orphans` (run by every worker about once
-- a second) makes any parked job with no older job of its key due.

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
    with input as (
        select k, p, m, a, o, u, r, x, n
          from unnest(p_kind, p_payload, p_merchant, p_account, p_ordering, p_unique, p_run_at, p_max_attempts)
               with ordinality as t (k, p, m, a, o, u, r, x, n)
         where k is not null
    ),
    ins as (
        insert into jobs (kind, payload, merchant_id, account_id, ordering_key, unique_key, run_at, max_attempts)
        select i.k, i.p, i.m, i.a, i.o, i.u,
               case
                   when i.o is not null
                        and (exists (select 1 from jobs q where q.ordering_key = i.o)
                             or exists (select 1 from input e where e.o = i.o and e.n < i.n))
                       then 'infinity'::timestamptz
                   else coalesce(i.r, now())
               end,
               i.x
          from input i
         order by i.n
        on conflict on constraint jobs_unique_key_key do nothing
        returning job_id
    ),
    wake as (
        select pg_notify('router_jobs', '') where exists (select 1 from ins)
    )
    select job_id from ins, (select count(*) from wake) w
$$;

-- The next job of a key that lost its head becomes due. SECURITY DEFINER: deletes run as the
-- API's RLS-bound role too; the function touches only the jobs of the deleted row's key.
create function jobs_promote_next()
returns trigger
language plpgsql security definer set search_path = public, pg_temp
as $$
begin
    update jobs set run_at = now()
     where job_id = (select min(q.job_id) from jobs q where q.ordering_key = old.ordering_key)
       and run_at = 'infinity';
    return null;
end
$$;

create trigger jobs_promote_next after delete on jobs
    for each row when (old.ordering_key is not null) execute function jobs_promote_next();

-- Parked jobs whose key has no older job (the race above). Returns how many were made due.
create function unpark_orphans()
returns bigint
language sql volatile security definer set search_path = public, pg_temp
as $$
    with orphans as (
        update jobs j set run_at = now()
         where j.state = 'available' and j.run_at = 'infinity'
           and not exists (select 1 from jobs p where p.ordering_key = j.ordering_key and p.job_id < j.job_id)
        returning 1
    )
    select count(*) from orphans
$$;

-- Followers already queued when this migration runs stay due at their own time and wait through
-- the claim's check, as before; only jobs enqueued from now on are parked.

-- SECURITY DEFINER functions run with the owner's rights (the owner bypasses RLS). With
-- `search_path = public` alone, Postgres still searches the caller's temporary schema first for
-- relations, so a caller able to create temp tables could shadow `api_keys` or `accounts` with its
-- own. Pinning `pg_temp` last closes that (Postgres docs, "Writing SECURITY DEFINER Functions
-- Safely"). Every such function in `public` is pinned here; a test checks that every SECURITY
-- DEFINER function, including later ones, keeps `pg_temp` last.
do $$
declare
    f regprocedure;
begin
    for f in
        select p.oid::regprocedure from pg_proc p
        where p.prosecdef and p.pronamespace = 'public'::regnamespace
    loop
        execute format('alter function %s set search_path = public, pg_temp', f);
    end loop;
end
$$;

-- The dedicated login role router-api connects with (DATABASE_APP_URL).
--
-- Why: the API serves untrusted tenants. If it logged in as the owner or a superuser (the default
-- when DATABASE_APP_URL is unset), one SQL injection could `reset role` out of `router_app` and
-- read every tenant past row-level security. `router_api` can log in and become `router_app`, and
-- nothing else: no superuser, no BYPASSRLS, no CREATEROLE/CREATEDB, NOINHERIT (no privileges of
-- its own until the pool's `set role router_app`). router-api refuses to start in production when
-- its login role is, or can become, a superuser, a BYPASSRLS role or a table owner.
--
-- Run as the owner/superuser, once per cluster, idempotently (it also resets the password):
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -v app_password="$(openssl rand -hex 24)" -f deploy/postgres/app-role.sql
-- then set DATABASE_APP_URL=postgres://router_api:<that password>@<host>:5432/<database>.
-- docker compose runs it at the first start of an empty Postgres volume
-- (deploy/postgres/initdb/10-app-role.sh, password from POSTGRES_APP_PASSWORD).

\set ON_ERROR_STOP on

-- Normally created by the first migration; created here too so this script may run first.
select 'create role router_app nologin nobypassrls'
where not exists (select from pg_roles where rolname = 'router_app') \gexec

select 'create role router_api login'
where not exists (select from pg_roles where rolname = 'router_api') \gexec

select format(
    'alter role router_api login nosuperuser nobypassrls nocreatedb nocreaterole noreplication noinherit password %L',
    :'app_password') \gexec

grant router_app to router_api;

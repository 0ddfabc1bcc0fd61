//! Data access: pools, tenant-scoped transactions and one function per statement.
//!
//! Two kinds of pool exist on purpose:
//! * [`connect_app_pool`] (the API): every connection runs `set role router_app` on connect. That
//!   role has no BYPASSRLS and does not own the tables, so row-level security holds even when the
//!   URL names a superuser (as in local development and CI). Each transaction then names its tenant
//!   with [`begin_merchant_tx`] (`set_config('app.merchant_id', …, true)`); a transaction that sets
//!   nothing sees no tenant rows at all.
//! * [`connect_owner_pool`] (migrations, worker, scheduler, CLI): the owner role, which bypasses
//!   RLS. These processes work across tenants and never take tenant input directly.
//!
//! Callers own transactions: they `begin`, pass `&mut *tx` down, and `commit`. Dropping a
//! transaction without committing rolls it back.

pub mod accounts;
pub mod admin_sessions;
pub mod analytics;
pub mod api_keys;
pub mod console;
pub mod deliveries;
pub mod deployment;
pub mod endpoints;
pub mod housekeeping;
pub mod inbound;
pub mod lifecycle;
mod listing;
pub mod merchants;
pub mod messages;
pub mod queue;
pub mod send_intents;
pub mod templates;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool, Postgres, Transaction};
use uuid::Uuid;

/// The migrations in `migrations/`, embedded.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The RLS-bound role every API connection switches to.
pub const APP_ROLE: &str = "router_app";

/// One round trip to Postgres (readiness probes).
///
/// # Errors
/// Postgres is unreachable.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("select 1").execute(pool).await.map(|_| ())
}

/// Pool for the API: RLS applies to every query.
///
/// # Errors
/// The URL is malformed or the first connection fails (fail fast at start).
pub async fn connect_app_pool(url: &SecretString, max: u32) -> Result<PgPool, sqlx::Error> {
    let opts: PgConnectOptions = url.expose_secret().parse()?;
    app_pool_options(max).connect_with(without_jit(opts)).await
}

/// Every router connection runs with `jit = off`. Postgres JIT-compiles a statement whose
/// estimated cost passes `jit_above_cost` (100 000), and estimates grow with the tables: at 1 M
/// historical messages the batched echo lookup (a GIN probe estimated at thousands of rows, which
/// returns one) was compiled on every execution, tens of milliseconds of CPU each, for statements
/// that run in well under one. The router's statements are all short OLTP ones.
fn without_jit(opts: PgConnectOptions) -> PgConnectOptions {
    opts.options([("jit", "off")])
}

/// Pool options that switch each new connection to [`APP_ROLE`].
#[must_use]
pub fn app_pool_options(max: u32) -> PgPoolOptions {
    pool_options(max).after_connect(|conn, _meta| {
        Box::pin(async move {
            conn.execute("set role router_app").await?;
            Ok(())
        })
    })
}

/// A connection idle longer than this is pinged before it is handed out.
pub const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// Every pool's options. sqlx pings a connection on every acquire by default: a round trip more
/// per pooled statement or transaction (an ingest POST made two, a delivery three), on the hot
/// paths where the connection was in use a moment ago. Only connections idle for
/// [`PING_IDLE_AFTER`] are pinged (a failed ping drops the connection and another is taken). A
/// busy connection that Postgres dropped (restart, `pg_terminate_backend`) fails its next
/// statement instead, which every caller already treats as Postgres unavailable (503, or the job
/// retried), and sqlx closes it.
pub(crate) fn pool_options(max: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IDLE_AFTER {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// Why the API's login role could escape row-level security; empty when it cannot.
///
/// `set role router_app` on connect is only as strong as the login role behind it: any role the
/// session user is a member of (directly or transitively) is one `reset role` / `set role` away
/// for an attacker who achieves SQL injection. So the session user must not be, nor be able to
/// become, a superuser, a BYPASSRLS role, a CREATEROLE role (which can grant itself membership in
/// other roles, table owners included) or the owner of a table in `public` (owners are exempt
/// from RLS). `router-api` refuses to start in production when this list is not empty; the
/// dedicated role of `deploy/postgres/app-role.sql` passes.
///
/// # Errors
/// Postgres errors.
pub async fn app_role_problems(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String, bool, bool, bool, bool)> = sqlx::query_as(
        r"select r.rolname::text, r.rolsuper, r.rolbypassrls, r.rolcreaterole,
                 exists (select 1 from pg_class c
                         where c.relowner = r.oid and c.relkind in ('r', 'p')
                           and c.relnamespace = 'public'::regnamespace) as owns_tables
          from pg_roles r
          where pg_has_role(session_user, r.oid, 'MEMBER')
          order by r.rolname",
    )
    .fetch_all(pool)
    .await?;
    let mut problems = Vec::new();
    for (role, superuser, bypassrls, createrole, owns_tables) in rows {
        for (flag, what) in [
            (superuser, "a superuser"),
            (bypassrls, "BYPASSRLS"),
            (createrole, "CREATEROLE (it can grant itself other roles)"),
            (owns_tables, "a table owner"),
        ] {
            if flag {
                problems.push(format!("the login role is or can become `{role}`, which is {what}"));
            }
        }
    }
    Ok(problems)
}

/// Pool for migrations, worker and scheduler (owner role; bypasses RLS).
///
/// # Errors
/// The URL is malformed or the first connection fails.
pub async fn connect_owner_pool(url: &SecretString, max: u32) -> Result<PgPool, sqlx::Error> {
    let opts: PgConnectOptions = url.expose_secret().parse()?;
    pool_options(max).connect_with(without_jit(opts)).await
}

/// [`connect_owner_pool`] for `router-worker`: its sessions enqueue without `pg_notify`
/// (`router.enqueue_notify = off`, migration 000053). The jobs a worker enqueues (the webhooks
/// of a send it completed) are found by its own next claim, which a finished job triggers; a
/// NOTIFY would only serialise its commits on Postgres's notify lock and wake every runner.
///
/// # Errors
/// The URL is malformed or the first connection fails.
pub async fn connect_worker_pool(url: &SecretString, max: u32) -> Result<PgPool, sqlx::Error> {
    let opts: PgConnectOptions = url.expose_secret().parse()?;
    pool_options(max).connect_with(without_jit(opts).options([("router.enqueue_notify", "off")])).await
}

/// Begins a transaction scoped to one merchant: RLS shows and accepts only its rows.
///
/// # Errors
/// Postgres errors.
pub async fn begin_merchant_tx(
    pool: &PgPool,
    merchant_id: Uuid,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with(begin_with_context(merchant_id, None)).await
}

/// [`begin_merchant_tx`] with the given [`Planning`] for the rest of the transaction, for ingest.
///
/// # Errors
/// Postgres errors.
pub async fn begin_merchant_tx_planned(
    pool: &PgPool,
    merchant_id: Uuid,
    planning: Planning,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with(begin_with_context(merchant_id, Some(planning))).await
}

/// `BEGIN` and the tenant's context as one simple-query message: one round trip instead of two
/// for every tenant transaction. The id is a formatted [`Uuid`] (hex and dashes only), so
/// writing it into the text is safe; the rest of the transaction binds its parameters.
fn begin_with_context(merchant_id: Uuid, planning: Option<Planning>) -> String {
    let plans = planning.map_or(String::new(), |p| format!(", set_config('plan_cache_mode', '{}', true)", p.mode()));
    format!("begin; select set_config('app.merchant_id', '{merchant_id}', true){plans}")
}

/// How an ingest transaction's statements are planned (`plan_cache_mode` for the transaction).
///
/// Ingest runs on every pooled connection, and Postgres's default (`auto`) either plans each
/// statement for its parameters (a fraction of a millisecond per statement per batch: half of
/// an event's database time at 200 events/s, measured) or, from a prepared statement's sixth run
/// on, may keep a generic plan made while the tables were empty and never analysed, and keep it
/// as they grow until an `ANALYZE` invalidates it — measured with `router-bench-flows --only p`
/// on a server without autovacuum: the conversation upsert, then written as joins, ran 20 ms per
/// POST on a connection that had served the first minutes, 1 ms on a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planning {
    /// The cached generic plan, never re-planned: for batches whose every statement has one
    /// reasonable plan whatever the tables hold (index probes in `LATERAL` subqueries, inserts
    /// from `unnest`; `inbound::Kind::plan_stable`).
    Generic,
    /// A plan for the parameters and the tables' size now, at every execution: for the rest
    /// (echo adoption, read receipts, unsends).
    Custom,
}

impl Planning {
    fn mode(self) -> &'static str {
        match self {
            Self::Generic => "force_generic_plan",
            Self::Custom => "force_custom_plan",
        }
    }
}

/// Names the tenant for the rest of the current transaction (`set_merchant_context`).
///
/// # Errors
/// Postgres errors.
pub async fn set_merchant_context(conn: &mut sqlx::PgConnection, merchant_id: Uuid) -> Result<(), sqlx::Error> {
    set_context(conn, "select set_config('app.merchant_id', $1, true)", merchant_id).await
}

/// Runs one of the context statements above with the merchant id as `$1`.
async fn set_context(conn: &mut sqlx::PgConnection, sql: &'static str, merchant_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(sql).bind(merchant_id.to_string()).execute(&mut *conn).await?;
    Ok(())
}

/// As [`set_merchant_context`], with the given [`Planning`] for the rest of the transaction (in
/// the same round trip).
///
/// # Errors
/// Postgres errors.
pub async fn set_merchant_context_planned(
    conn: &mut sqlx::PgConnection,
    merchant_id: Uuid,
    planning: Planning,
) -> Result<(), sqlx::Error> {
    sqlx::query("select set_config('app.merchant_id', $1, true), set_config('plan_cache_mode', $2, true)")
        .bind(merchant_id.to_string())
        .bind(planning.mode())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Begins a platform-admin transaction (admin endpoints only: merchants, keys, DLQ).
///
/// # Errors
/// Postgres errors.
pub async fn begin_admin_tx(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("select set_config('app.platform_admin', 'on', true)").execute(&mut *tx).await?;
    Ok(tx)
}

/// Postgres error → name of the violated constraint, if any.
#[must_use]
pub fn violated_constraint(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(d) => d.constraint(),
        _ => None,
    }
}

/// True when the error means Postgres is unreachable (→ 503), not a bad query.
#[must_use]
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Tls(_))
        || matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08")))
}

//! `accounts` and their primary `webhook_endpoints` row (the account API's CRM endpoint; more
//! endpoints per account live in `db::endpoints`).

use sqlx::PgConnection;

pub use super::listing::AccountScope;
use super::listing::Filtered;
use crate::domain::{AccountStatus, EndpointStatus};
use time::OffsetDateTime;
use uuid::Uuid;

/// An account with its endpoint, as the API shows it (ciphertexts stay inside the data layer's
/// callers; they are never serialised).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub account_id: Uuid,
    pub merchant_id: Uuid,
    pub instagram_account_id: String,
    pub username: String,
    pub access_token_enc: String,
    pub app_secret_enc: Option<String>,
    pub status: AccountStatus,
    pub status_reason: Option<String>,
    pub sandbox: bool,
    pub token_expires_at: Option<OffsetDateTime>,
    pub token_refreshed_at: Option<OffsetDateTime>,
    pub deleted_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub endpoint_id: Option<Uuid>,
    pub crm_webhook_url: Option<String>,
    pub webhook_secret_enc: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub endpoint_status: Option<EndpointStatus>,
}

const SELECT: &str = r"
    select a.account_id, a.merchant_id, a.instagram_account_id, a.username, a.access_token_enc,
           a.app_secret_enc, a.status, a.status_reason, a.sandbox, a.token_expires_at,
           a.token_refreshed_at, a.deleted_at, a.created_at, a.updated_at,
           e.endpoint_id, e.url as crm_webhook_url, e.secret_enc as webhook_secret_enc,
           e.event_types, e.status as endpoint_status
    from accounts a
    left join webhook_endpoints e on e.account_id = a.account_id and e.is_primary";

/// Fields of a new (or re-connected) account.
pub struct NewAccount<'a> {
    pub account_id: Uuid,
    pub merchant_id: Uuid,
    pub instagram_account_id: &'a str,
    pub username: &'a str,
    pub access_token_enc: &'a str,
    pub app_secret_enc: Option<&'a str>,
    pub sandbox: bool,
    pub token_expires_at: Option<OffsetDateTime>,
}

/// Inserts an account, or revives a deleted one with the same Instagram id (history kept).
/// Returns `None` when a live account with that Instagram id already exists for the merchant.
///
/// # Errors
/// Postgres errors.
#[tracing::instrument(skip_all, fields(merchant.id = %a.merchant_id))]
pub async fn upsert_account(
    conn: &mut PgConnection,
    a: &NewAccount<'_>,
    replace_live: bool,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        r"insert into accounts (account_id, merchant_id, instagram_account_id, username, access_token_enc,
                                app_secret_enc, sandbox, token_expires_at, token_refreshed_at)
          values ($1, $2, $3, $4, $5, $6, $7, $8, now())
          on conflict on constraint accounts_merchant_instagram_key do update
             set username = excluded.username,
                 access_token_enc = excluded.access_token_enc,
                 app_secret_enc = coalesce(excluded.app_secret_enc, accounts.app_secret_enc),
                 sandbox = excluded.sandbox,
                 token_expires_at = excluded.token_expires_at,
                 token_refreshed_at = now(),
                 token_refresh_failures = 0,
                 status = 'active', status_reason = null, deleted_at = null
           where accounts.deleted_at is not null or $9
          returning account_id",
    )
    .bind(a.account_id)
    .bind(a.merchant_id)
    .bind(a.instagram_account_id)
    .bind(a.username)
    .bind(a.access_token_enc)
    .bind(a.app_secret_enc)
    .bind(a.sandbox)
    .bind(a.token_expires_at)
    .bind(replace_live)
    .fetch_optional(&mut *conn)
    .await
}

/// Creates or replaces the account's primary CRM endpoint.
///
/// # Errors
/// Postgres errors.
pub async fn upsert_endpoint(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    account_id: Uuid,
    url: &str,
    secret_enc: &str,
    event_types: Option<&[String]>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r"insert into webhook_endpoints (endpoint_id, merchant_id, account_id, url, secret_enc, event_types, is_primary)
          values ($1, $2, $3, $4, $5, $6, true)
          on conflict (account_id) where is_primary do update
             set url = excluded.url, secret_enc = excluded.secret_enc, event_types = excluded.event_types,
                 previous_secret_enc = null, previous_secret_expires_at = null,
                 status = 'active', disabled_reason = null",
    )
    .bind(Uuid::now_v7())
    .bind(merchant_id)
    .bind(account_id)
    .bind(url)
    .bind(secret_enc)
    .bind(event_types)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Finds one account visible in the current context (deleted ones included: history).
///
/// # Errors
/// Postgres errors.
pub async fn find_account(conn: &mut PgConnection, account_id: Uuid) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} where a.account_id = $1")).bind(account_id).fetch_optional(&mut *conn).await
}

/// Finds one account visible in the current context *and* inside `scope` (deleted ones included:
/// history). `None` for anything else, which the API answers with 404.
///
/// # Errors
/// Postgres errors.
pub async fn find_account_in_scope(
    conn: &mut PgConnection,
    account_id: Uuid,
    scope: AccountScope<'_>,
) -> Result<Option<AccountRow>, sqlx::Error> {
    Filtered::new(SELECT, "true")
        .eq("a.account_id", Some(account_id))
        .scope("a.account_id", "a.sandbox", scope)
        .fetch_optional(conn)
        .await
}

/// Lists the context's live accounts inside `scope`.
///
/// # Errors
/// Postgres errors.
pub async fn list_accounts(conn: &mut PgConnection, scope: AccountScope<'_>) -> Result<Vec<AccountRow>, sqlx::Error> {
    Filtered::new(SELECT, "a.deleted_at is null")
        .scope("a.account_id", "a.sandbox", scope)
        .fetch_all(conn, "a.created_at, a.account_id")
        .await
}

/// How many of `ids` (distinct) are live accounts of `merchant_id` (sandbox ones only, with
/// `sandbox_only`). Filters on the merchant explicitly because its caller, key creation, runs as
/// platform admin, where RLS shows every tenant's rows.
///
/// # Errors
/// Postgres errors.
pub async fn count_merchant_accounts(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    ids: &[Uuid],
    sandbox_only: bool,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        r"select count(*) from accounts
           where merchant_id = $1 and account_id = any($2) and deleted_at is null and (not $3 or sandbox)",
    )
    .bind(merchant_id)
    .bind(ids)
    .bind(sandbox_only)
    .fetch_one(&mut *conn)
    .await
}

/// Partial update of an account; `None` keeps a column.
pub struct AccountPatch<'a> {
    pub access_token_enc: Option<&'a str>,
    pub app_secret_enc: Option<&'a str>,
    pub status: Option<&'a str>,
    pub username: Option<&'a str>,
}

/// Applies a patch to a live account. Re-activating (or a new token) clears the error reason.
///
/// # Errors
/// Postgres errors.
pub async fn update_account(
    conn: &mut PgConnection,
    account_id: Uuid,
    p: &AccountPatch<'_>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        r"update accounts
             set access_token_enc = coalesce($2, access_token_enc),
                 app_secret_enc = coalesce($3, app_secret_enc),
                 status = coalesce($4, case when $2::text is not null and status = 'error' then 'active' else status end),
                 status_reason = case when coalesce($4, case when $2::text is not null then 'active' end) = 'active'
                                      then null else status_reason end,
                 token_refreshed_at = case when $2::text is not null then now() else token_refreshed_at end,
                 token_refresh_failures = case when $2::text is not null then 0 else token_refresh_failures end,
                 username = coalesce($5, username)
           where account_id = $1 and deleted_at is null",
    )
    .bind(account_id)
    .bind(p.access_token_enc)
    .bind(p.app_secret_enc)
    .bind(p.status)
    .bind(p.username)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Rotates the endpoint secret; the previous one keeps signing until `overlap_until`.
///
/// # Errors
/// Postgres errors.
pub async fn rotate_endpoint_secret(
    conn: &mut PgConnection,
    account_id: Uuid,
    new_secret_enc: &str,
    overlap_until: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r"update webhook_endpoints
             set previous_secret_enc = secret_enc, previous_secret_expires_at = $3, secret_enc = $2
           where account_id = $1 and is_primary",
    )
    .bind(account_id)
    .bind(new_secret_enc)
    .bind(overlap_until)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Changes the endpoint URL and/or its event filter (re-enables a disabled endpoint).
///
/// # Errors
/// Postgres errors.
pub async fn update_endpoint(
    conn: &mut PgConnection,
    account_id: Uuid,
    url: Option<&str>,
    event_types: Option<Option<&[String]>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r"update webhook_endpoints
             set url = coalesce($2, url),
                 event_types = case when $3 then $4 else event_types end,
                 status = case when $2::text is not null then 'active' else status end,
                 disabled_reason = case when $2::text is not null then null else disabled_reason end
           where account_id = $1 and is_primary",
    )
    .bind(account_id)
    .bind(url)
    .bind(event_types.is_some())
    .bind(event_types.flatten())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Soft-deletes an account: history stays, sending stops (pending sends fail as
/// `account_deleted` when their job runs).
///
/// # Errors
/// Postgres errors.
pub async fn soft_delete_account(conn: &mut PgConnection, account_id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        r"update accounts set status = 'deleted', deleted_at = now(), status_reason = 'deleted by merchant'
           where account_id = $1 and deleted_at is null",
    )
    .bind(account_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the merchant's connected (not deleted) account of `instagram_account_id` is a sandbox
/// one; `None` when it has none. OAuth refuses to move an account between live and sandbox.
///
/// # Errors
/// Postgres errors.
pub async fn connected_environment(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    instagram_account_id: &str,
) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar(
        "select sandbox from accounts where merchant_id = $1 and instagram_account_id = $2 and deleted_at is null",
    )
    .bind(merchant_id)
    .bind(instagram_account_id)
    .fetch_optional(&mut *conn)
    .await
}

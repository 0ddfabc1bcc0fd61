//! Connecting and re-authenticating an Instagram account: the one workflow behind
//! `POST /accounts`, `PUT /accounts/{id}` and the OAuth callback.
//!
//! The API checks the request and the token with Meta first; these run in the caller's merchant
//! transaction (RLS applies) and commit with it.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::accounts::{self, AccountPatch, NewAccount};
use crate::db::queue;

/// What happens to the account's CRM endpoint when it is connected.
#[derive(Debug, Clone, Copy)]
pub enum EndpointChange<'a> {
    /// Create the endpoint, or replace it whole: URL, secret and event filter
    /// (`POST /accounts`).
    Replace { url: &'a str, secret_enc: &'a str, event_types: Option<&'a [String]> },
    /// Create it (no filter), or, when the account already has one, point it at `url` and rotate
    /// its secret: the old one keeps signing until `overlap_until`, the filter is kept (an OAuth
    /// re-connection).
    Rotate { url: &'a str, secret_enc: &'a str, overlap_until: OffsetDateTime },
}

/// Connects an account: inserts it, revives a deleted one with the same Instagram id, or (with
/// `replace_live`, the OAuth re-connection) replaces a live one's token; applies `endpoint`; and
/// resumes the account's sends that waited for a valid token. `None` when the merchant already
/// has a live account with that Instagram id and `replace_live` is false.
///
/// # Errors
/// Postgres errors.
pub async fn connect_account(
    conn: &mut PgConnection,
    account: &NewAccount<'_>,
    replace_live: bool,
    endpoint: Option<EndpointChange<'_>>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let Some(account_id) = accounts::upsert_account(conn, account, replace_live).await? else {
        return Ok(None);
    };
    let merchant_id = account.merchant_id;
    match endpoint {
        Some(EndpointChange::Replace { url, secret_enc, event_types }) => {
            accounts::upsert_endpoint(conn, merchant_id, account_id, url, secret_enc, event_types).await?;
        }
        Some(EndpointChange::Rotate { url, secret_enc, overlap_until }) => {
            let existing = accounts::find_account(conn, account_id).await?.and_then(|a| a.endpoint_id);
            if existing.is_some() {
                accounts::rotate_endpoint_secret(conn, account_id, secret_enc, overlap_until).await?;
                accounts::update_endpoint(conn, account_id, Some(url), None).await?;
            } else {
                accounts::upsert_endpoint(conn, merchant_id, account_id, url, secret_enc, None).await?;
            }
        }
        None => {}
    }
    queue::wake_account_jobs(conn, account_id).await?;
    Ok(Some(account_id))
}

/// Changes an account's token, app secret or status (`PUT /accounts/{id}`). A new token or a
/// re-activation resumes the sends that waited for re-authentication.
///
/// # Errors
/// Postgres errors.
pub async fn reauthenticate(
    conn: &mut PgConnection,
    account_id: Uuid,
    patch: &AccountPatch<'_>,
) -> Result<(), sqlx::Error> {
    accounts::update_account(conn, account_id, patch).await?;
    if patch.access_token_enc.is_some() || patch.status == Some("active") {
        queue::wake_account_jobs(conn, account_id).await?;
    }
    Ok(())
}

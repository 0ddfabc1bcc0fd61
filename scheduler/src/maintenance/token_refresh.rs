//! The `token_refresh` task.
//!
//! Refreshes long-lived tokens that are at least 24 h old and expire within
//! `TOKEN_REFRESH_WINDOW_DAYS` (Meta's rule and Chatwoot's policy, research §6.1). A token whose
//! expiry is unknown is assumed to live 60 days from its last refresh. Failures back off
//! exponentially (5 min doubling, at most 6 h), count in `router_token_refresh_total{result="failure"}`
//! and tell the CRM once a day (`account.token_expiring`); Meta answering 190 marks the account
//! `error` (`account.disabled`).
//!
//! One account's trouble is that account's: a token that cannot be decrypted (corrupted row, key
//! version no longer configured) or a sandbox account without a sandbox Graph API is recorded and
//! backed off like any failed refresh, and the run goes on with the others. Before, it aborted
//! the whole run and, sorting first, aborted every later run too, so no token of the fleet was
//! refreshed. Only database errors (the run cannot record anything) end the run.

use router_core::crypto::DecryptError;
use router_core::db::housekeeping::{self, DueToken};
use router_core::graph::ErrorClass;
use router_core::jobs::JobContext;
use router_core::webhooks::{self, CrmEvent};
use secrecy::ExposeSecret;

/// Accounts refreshed per run (the next run takes the rest).
const PER_RUN: i64 = 200;

/// Refreshes every due token; returns how many were refreshed.
///
/// # Errors
/// Database failures.
pub async fn run(ctx: &JobContext) -> anyhow::Result<u64> {
    let window = i32::try_from(ctx.config.token_refresh_window_days).unwrap_or(i32::MAX);
    let due = housekeeping::tokens_due(&ctx.db, window, PER_RUN).await?;
    let mut refreshed = 0;
    for a in due {
        if refresh_one(ctx, &a).await? {
            refreshed += 1;
        }
    }
    Ok(refreshed)
}

fn count_failure() {
    metrics::counter!("router_token_refresh_total", "result" => "failure").increment(1);
}

/// Refreshes one account's token; true when refreshed. Every failure specific to the account is
/// recorded on its row; only database errors are returned.
async fn refresh_one(ctx: &JobContext, a: &DueToken) -> anyhow::Result<bool> {
    let Some(graph) = ctx.graphs.for_account(a.sandbox) else {
        count_failure();
        tracing::warn!(account.id = %a.account_id, "token refresh: sandbox account but no sandbox Graph API; backing off");
        back_off(ctx, a, "sandbox_not_configured").await?;
        return Ok(false);
    };
    let token = match ctx.config.keyring.decrypt(&a.access_token_enc) {
        Ok(t) => t,
        Err(e) => {
            // The kind only: neither the ciphertext nor anything decrypted reaches the log.
            let kind = match e {
                DecryptError::Malformed => "malformed",
                DecryptError::UnknownKeyVersion(_) => "unknown_key_version",
                DecryptError::Authentication(_) => "authentication_failed",
            };
            count_failure();
            tracing::error!(account.id = %a.account_id, kind,
                "token refresh: the stored token cannot be decrypted; account backed off, others continue");
            back_off(ctx, a, "token_undecryptable").await?;
            return Ok(false);
        }
    };
    match graph.refresh_token(&token).await {
        Ok(grant) => {
            let lifetime = time::Duration::seconds(grant.expires_in.unwrap_or(5_184_000));
            let new_enc = ctx.config.keyring.encrypt(grant.access_token.expose_secret());
            let expires = time::OffsetDateTime::now_utc() + lifetime;
            housekeeping::store_refreshed_token(&ctx.db, a.account_id, &a.access_token_enc, &new_enc, expires).await?;
            metrics::counter!("router_token_refresh_total", "result" => "success").increment(1);
            Ok(true)
        }
        Err(e) if e.class() == ErrorClass::TokenInvalid => {
            count_failure();
            tracing::warn!(account.id = %a.account_id, "token refresh: Meta rejected the token; account marked error");
            let mut tx = ctx.db.begin().await?;
            let code = e.error_code();
            router_core::lifecycle::mark_token_invalid(
                &mut tx,
                a.merchant_id,
                a.account_id,
                &a.instagram_account_id,
                &code,
            )
            .await?;
            tx.commit().await?;
            Ok(false)
        }
        Err(e) => {
            count_failure();
            tracing::warn!(account.id = %a.account_id, error = %e, "token refresh failed; will retry with backoff");
            back_off(ctx, a, &e.error_code()).await?;
            Ok(false)
        }
    }
}

/// Records a failed refresh on the account: the failure count, the next attempt after an
/// exponential backoff (so the row stops sorting first), and `account.token_expiring` to the CRM
/// at most once a day (`reason` says why; a new token through `PUT /accounts/{id}` fixes them all).
async fn back_off(ctx: &JobContext, a: &DueToken, reason: &str) -> anyhow::Result<()> {
    let backoff_secs = (300.0 * 2f64.powi(a.token_refresh_failures.min(10))).min(21_600.0);
    let mut tx = ctx.db.begin().await?;
    if let Some(at) = housekeeping::back_off_token_refresh(&mut tx, a.account_id, backoff_secs).await? {
        let event = CrmEvent {
            merchant_id: a.merchant_id,
            account_id: a.account_id,
            event_type: router_core::domain::events::ACCOUNT_TOKEN_EXPIRING,
            event_id: format!("acct:{}:token_expiring:{}", a.account_id, at.date()),
            data: serde_json::json!({
                "account_id": a.account_id,
                "instagram_account_id": a.instagram_account_id,
                "token_expires_at": a.token_expires_at.map(webhooks::rfc3339),
                "reason": reason,
                "failed_attempts": a.token_refresh_failures + 1,
                "timestamp": webhooks::rfc3339(at),
            }),
            conversation: None,
        };
        webhooks::enqueue_events(&mut tx, &[event]).await?;
    }
    tx.commit().await?;
    Ok(())
}

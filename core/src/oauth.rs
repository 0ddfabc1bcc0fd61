//! Instagram Business Login with PKCE (RFC 7636, S256).
//!
//! `start` makes a `state` and a `code_verifier`, keeps the verifier (and the onboarding options)
//! in Redis under `{prefix}oauth:{merchant}:{nonce}` for 10 minutes, and returns the authorize URL
//! with the S256 challenge. The state sent to Meta is `{merchant}.{nonce}`: the callback, which is
//! reached by the merchant's browser without an API key, learns the merchant from it and takes the
//! entry out with `GETDEL` — atomically, so a state works once. A missing, expired, replayed or
//! tampered state (another merchant's id) finds no entry and is refused.
//!
//! Meta documents no PKCE for Instagram Business Login (research §6.3); sending the challenge is
//! harmless there and binds the code to this router's session, and the token exchange also uses
//! the app secret, as Meta requires. The sandbox Graph API enforces PKCE.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::{Keyring, random_token, sha256};

/// How long an authorization may take.
pub const STATE_TTL: Duration = Duration::from_secs(600);

/// What the callback needs to finish onboarding (kept encrypted in Redis).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingAuth {
    pub merchant_id: Uuid,
    pub code_verifier: String,
    /// Onboard into the sandbox (the flow was started with a `router_test_` key).
    pub sandbox: bool,
    /// CRM endpoint to create for the account, if given at start.
    pub crm_webhook_url: Option<String>,
    /// Its signing secret (generated at start and shown to the CRM then).
    pub webhook_secret: Option<String>,
    /// Where to send the browser afterwards.
    pub redirect_after: Option<String>,
}

/// The S256 challenge of a verifier.
#[must_use]
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()))
}

fn key(prefix: &str, merchant_id: Uuid, nonce: &str) -> String {
    format!("{prefix}oauth:{merchant_id}:{nonce}")
}

/// Creates and stores a pending authorization; returns `(state, verifier)`.
///
/// # Errors
/// Redis unreachable.
pub async fn begin(
    redis: &ConnectionManager,
    prefix: &str,
    keyring: &Keyring,
    pending: &PendingAuth,
) -> anyhow::Result<String> {
    let nonce = random_token();
    let state = format!("{}.{nonce}", pending.merchant_id);
    let sealed = keyring.encrypt(&serde_json::to_string(pending)?);
    let mut conn = redis.clone();
    let _: () = redis::cmd("SET")
        .arg(key(prefix, pending.merchant_id, &nonce))
        .arg(sealed)
        .arg("PX")
        .arg(STATE_TTL.as_millis() as u64)
        .query_async(&mut conn)
        .await?;
    Ok(state)
}

/// Why a callback's state is refused.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the state parameter is missing or malformed")]
    Malformed,
    #[error("the authorization expired, was already used, or belongs to another session")]
    Unknown,
    #[error("Redis is unavailable")]
    Redis(#[from] redis::RedisError),
}

/// Takes the pending authorization of `state` out of Redis (single use).
///
/// # Errors
/// [`StateError`].
pub async fn take(
    redis: &ConnectionManager,
    prefix: &str,
    keyring: &Keyring,
    state: &str,
) -> Result<PendingAuth, StateError> {
    let (merchant, nonce) = state.split_once('.').ok_or(StateError::Malformed)?;
    let merchant_id: Uuid = merchant.parse().map_err(|_| StateError::Malformed)?;
    if nonce.is_empty() || nonce.len() > 128 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(StateError::Malformed);
    }
    let mut conn = redis.clone();
    let sealed: Option<String> =
        redis::cmd("GETDEL").arg(key(prefix, merchant_id, nonce)).query_async(&mut conn).await?;
    let sealed = sealed.ok_or(StateError::Unknown)?;
    let plain = keyring.decrypt(&sealed).map_err(|_| StateError::Unknown)?;
    let pending: PendingAuth =
        serde_json::from_str(secrecy::ExposeSecret::expose_secret(&plain)).map_err(|_| StateError::Unknown)?;
    if pending.merchant_id != merchant_id {
        return Err(StateError::Unknown);
    }
    Ok(pending)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_s256_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            super::challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}

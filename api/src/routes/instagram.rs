//! Meta's side: the webhook handshake and event notifications (DESIGN §6).
//!
//! The POST handler reads the raw bytes and verifies `X-Hub-Signature-256` over exactly those
//! bytes, in constant time, before parsing anything it will act on (Meta signs the escaped-unicode
//! body it sends; re-serialising would break the signature). Meta gets 200 only after every
//! event is committed.
//!
//! Forged traffic is cheap to refuse and cannot speak for another tenant (docs/SECURITY.md):
//! the platform `IG_APP_SECRET` is checked first (one HMAC) and vouches for the whole body.
//! Otherwise the body must fit Meta's batch size (400 before any database work), its accounts
//! are looked up in one query, at most a few distinct per-account secrets are tried, and a
//! per-account secret vouches only for the account rows that hold it, the sandbox's own
//! `SANDBOX_IG_APP_SECRET` only for sandbox rows ([`inbound::Routed::vouched_by`]): everything
//! else in the body is dropped and counted.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use router_core::crypto::verify_hub_signature;
use router_core::inbound;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, AppJson, AppQuery, ErrorBody, ErrorCode};
use crate::ingest::Post;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(handshake, receive))
}

/// Meta's verification request.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    #[param(rename = "hub.mode")]
    pub mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    #[param(rename = "hub.verify_token")]
    pub verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    #[param(rename = "hub.challenge")]
    pub challenge: Option<String>,
}

/// Meta's webhook handshake: echoes `hub.challenge` when `hub.verify_token` matches.
#[utoipa::path(get, path = "/webhooks/instagram", tag = "instagram", operation_id = "instagram.webhook.verify",
    params(Handshake),
    responses((status = 200, description = "The challenge, as text/plain", content_type = "text/plain", body = String), (status = 403, body = ErrorBody), (status = 400, body = ErrorBody),
        (status = 422, description = "A NUL character in a parameter", body = ErrorBody)),
    security(()))]
async fn handshake(State(s): State<AppState>, AppQuery(q): AppQuery<Handshake>) -> ApiResult<Response> {
    let expected = s.config.api().meta_verify_token.expose_secret().as_bytes();
    let given = q.verify_token.as_deref().unwrap_or_default().as_bytes();
    let token_ok = bool::from(given.ct_eq(expected));
    if q.mode.as_deref() != Some("subscribe") || !token_ok {
        return Err(ApiError::Forbidden("verification token mismatch".into()));
    }
    let challenge = q.challenge.unwrap_or_default();
    // Echo only an opaque token (never markup): Meta sends digits.
    if challenge.is_empty()
        || challenge.len() > 256
        || !challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::BadRequest {
            code: ErrorCode::InvalidRequest,
            message: "hub.challenge must be a short token".into(),
            details: None,
        });
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], challenge).into_response())
}

/// What the router answers Meta.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResponse {
    pub status: &'static str,
    pub events: usize,
    pub stored: usize,
    pub duplicates: usize,
    pub unrouted: usize,
    /// Events (or account rows of an event) the signature does not vouch for: dropped.
    pub rejected: usize,
}

/// Event notifications from Meta (signed with `X-Hub-Signature-256`).
#[utoipa::path(post, path = "/webhooks/instagram", tag = "instagram", operation_id = "instagram.webhook.receive",
    request_body(content = String, content_type = "application/json", description = "Meta's `{object, entry[]}` payload"),
    params(("X-Hub-Signature-256" = String, Header, description = "sha256=<hex HMAC-SHA256(app secret, raw body)>")),
    responses((status = 200, body = IngestResponse), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(()))]
#[tracing::instrument(skip_all, fields(bytes = body.len()))]
async fn receive(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, AppJson<IngestResponse>)> {
    let started = Instant::now();
    let Some(sig) = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok()) else {
        metrics::counter!("router_inbound_signature_failures_total").increment(1);
        return Err(ApiError::Unauthorized("missing X-Hub-Signature-256"));
    };
    let report = if verify_hub_signature(s.config.api().ig_app_secret.expose_secret().as_bytes(), &body, sig) {
        let value = inbound::parse_body(&body).map_err(|_| ApiError::BadRequest {
            code: ErrorCode::InvalidRequest,
            message: "body is not JSON".into(),
            details: None,
        })?;
        check_shape(&value)?;
        refuse_oversized(&value)?;
        s.ingest.submit(Post::Platform(value)).await?
    } else {
        receive_per_account(&s, &body, sig).await?
    };
    metrics::histogram!("router_inbound_ingest_duration_seconds").record(started.elapsed().as_secs_f64());
    tracing::info!(
        events = report.events,
        stored = report.stored,
        duplicates = report.duplicates,
        unrouted = report.unrouted,
        rejected = report.rejected,
        "Instagram webhook stored"
    );
    Ok((
        StatusCode::OK,
        AppJson(IngestResponse {
            status: "ok",
            events: report.events,
            stored: report.stored,
            duplicates: report.duplicates,
            unrouted: report.unrouted,
            rejected: report.rejected,
        }),
    ))
}

/// Meta's notifications are `{"object": "...", "entry": [...]}`; anything else is refused (400),
/// whoever signed it, rather than counted as one unroutable event.
fn check_shape(v: &serde_json::Value) -> Result<(), ApiError> {
    if v.get("object").is_some_and(serde_json::Value::is_string)
        && v.get("entry").is_some_and(serde_json::Value::is_array)
    {
        return Ok(());
    }
    Err(ApiError::BadRequest {
        code: ErrorCode::InvalidRequest,
        message: "body must be Meta's notification: an object with `object` (string) and `entry` (array)".into(),
        details: None,
    })
}

/// More entries or events than one Meta batch holds: 400 before any database work, whoever signed.
fn refuse_oversized(value: &serde_json::Value) -> Result<(), ApiError> {
    let Err(why) = inbound::check_limits(value) else { return Ok(()) };
    why.count(1);
    tracing::warn!(reason = why.as_str(), "Instagram webhook larger than a Meta batch refused");
    Err(ApiError::BadRequest {
        code: if why == inbound::Rejected::TooManyEntries {
            ErrorCode::TooManyEntries
        } else {
            ErrorCode::TooManyEvents
        },
        message: format!(
            "a webhook POST carries at most {} entries and {} events (Meta's batch size)",
            inbound::MAX_ENTRIES,
            inbound::MAX_EVENTS
        ),
        details: Some(serde_json::json!({"max_entries": inbound::MAX_ENTRIES, "max_events": inbound::MAX_EVENTS})),
    })
}

/// A POST not signed with the platform secret: it may come from a bring-your-own Meta app, and
/// then vouches only for the accounts holding that app's secret (see the module docs).
async fn receive_per_account(s: &AppState, body: &[u8], sig: &str) -> ApiResult<inbound::IngestReport> {
    let Ok(value) = inbound::parse_body(body) else {
        return Err(signature_failure());
    };
    if check_shape(&value).is_err() {
        return Err(signature_failure());
    }
    refuse_oversized(&value)?;
    let routed = inbound::route(&s.db, &value).await?;
    let vouched = routed.vouched_by(&s.config.keyring, s.config.api().sandbox_ig_app_secret.as_ref(), body, sig);
    if vouched.is_empty() {
        return Err(signature_failure());
    }
    let accounts: Vec<String> = vouched.iter().map(ToString::to_string).collect();
    let report = s.ingest.submit(Post::Routed(routed, inbound::Trust::Accounts(vouched))).await?;
    if report.rejected > 0 {
        // Ids and counts only: never the content of what was dropped.
        tracing::warn!(
            rejected = report.rejected,
            vouched_accounts = ?accounts,
            "Instagram webhook signed with a per-account secret addressed accounts that do not hold it; dropped"
        );
    }
    Ok(report)
}

fn signature_failure() -> ApiError {
    metrics::counter!("router_inbound_signature_failures_total").increment(1);
    tracing::warn!("Instagram webhook with an invalid signature rejected");
    ApiError::Unauthorized("invalid X-Hub-Signature-256")
}

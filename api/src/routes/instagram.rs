//! Meta's side: the webhook handshake and event notifications (DESIGN §6).
//!
//! The POST handler reads the raw bytes and verifies `X-Hub-Signature-256` over exactly those
//! bytes, in constant time, before parsing anything it will act on (Meta signs the escaped-unicode
//! body it sends; re-serialising would break the signature). The platform `IG_APP_SECRET` is tried
//! first; accounts connected with their own `app_secret` are tried next (the body is parsed only to
//! find which accounts' secrets to try). Meta gets 200 only after every event is committed.

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

use crate::error::{ApiError, ApiResult, AppJson, AppQuery, ErrorBody};
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
    responses((status = 200, description = "The challenge, as text/plain"), (status = 403, body = ErrorBody), (status = 400, body = ErrorBody)),
    security(()))]
async fn handshake(State(s): State<AppState>, AppQuery(q): AppQuery<Handshake>) -> ApiResult<Response> {
    let expected = s.config.meta_verify_token.expose_secret().as_bytes();
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
            code: "invalid_request",
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
}

/// Event notifications from Meta (signed with `X-Hub-Signature-256`).
#[utoipa::path(post, path = "/webhooks/instagram", tag = "instagram", operation_id = "instagram.webhook.receive",
    request_body(content = String, content_type = "application/json", description = "Meta's `{object, entry[]}` payload"),
    params(("X-Hub-Signature-256" = String, Header, description = "sha256=<hex HMAC-SHA256(app secret, raw body)>")),
    responses((status = 200, body = IngestResponse), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody), (status = "5XX", body = ErrorBody)),
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
    let mut verified = verify_hub_signature(s.config.ig_app_secret.expose_secret().as_bytes(), &body, sig);
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    if !verified && let Some(v) = &parsed {
        // Accounts with their own app secret.
        let ids = inbound::business_ids(v);
        let routes = inbound::find_routes(&s.db, &ids).await?;
        'outer: for rows in routes.values() {
            for r in rows {
                if let Some(enc) = &r.app_secret_enc
                    && let Ok(secret) = s.config.keyring.decrypt(enc)
                    && verify_hub_signature(secret.expose_secret().as_bytes(), &body, sig)
                {
                    verified = true;
                    break 'outer;
                }
            }
        }
    }
    if !verified {
        metrics::counter!("router_inbound_signature_failures_total").increment(1);
        tracing::warn!("Instagram webhook with an invalid signature rejected");
        return Err(ApiError::Unauthorized("invalid X-Hub-Signature-256"));
    }
    let Some(value) = parsed else {
        return Err(ApiError::BadRequest {
            code: "invalid_request",
            message: "body is not JSON".into(),
            details: None,
        });
    };
    let report = inbound::ingest(&s.db, &value).await?;
    metrics::histogram!("router_inbound_ingest_duration_seconds").record(started.elapsed().as_secs_f64());
    tracing::info!(
        events = report.events,
        stored = report.stored,
        duplicates = report.duplicates,
        unrouted = report.unrouted,
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
        }),
    ))
}

//! Merchant onboarding through Instagram Business Login (see `router_core::oauth`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use router_core::accounts::{EndpointChange, connect_account};
use router_core::crypto::{KeyEnvironment, b64};
use router_core::db::{self, accounts};
use router_core::domain::Scope;
use router_core::graph::GraphClient;
use router_core::oauth::{self, PendingAuth, StateError};
use router_core::ssrf;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppJson, AppQuery, ErrorBody, ErrorCode};
use crate::state::AppState;

/// Webhook fields the account is subscribed to after onboarding.
pub const SUBSCRIBED_FIELDS: &str = "messages,messaging_postbacks,messaging_seen,message_reactions,messaging_referral";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(callback))
        // The same callback under the API prefix (DESIGN §4 lists it there); the redirect URI Meta
        // knows is `{API_BASE_URL}/oauth/instagram/callback`.
        .route("/api/v1/oauth/instagram/callback", axum::routing::get(callback))
}

/// Query of `GET /oauth/instagram/start`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// Create the account's CRM endpoint with this URL; the response then carries its new signing
    /// secret (shown once). Omit to set the endpoint later with `PUT /accounts/{id}`.
    pub crm_webhook_url: Option<String>,
    /// Where the merchant's browser goes after the callback (`?account_id=…&status=connected`, or
    /// `?status=error&error=…`). Its origin must be `API_BASE_URL`'s or one listed in
    /// `OAUTH_REDIRECT_ALLOWED_ORIGINS`; anything else is a 400 `redirect_not_allowed`.
    pub redirect_after: Option<String>,
}

/// Answer of `GET /oauth/instagram/start`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartResponse {
    /// Send the merchant's browser here (full-page redirect, not a popup).
    pub authorize_url: String,
    /// Opaque; valid once, for 10 minutes.
    pub state: String,
    /// The signing secret of the CRM endpoint that will be created, when `crm_webhook_url` was
    /// given. Store it now: it is not shown again.
    pub webhook_secret: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Where an onboarding goes: the Graph client, the authorize page, and the app secret for the code
/// exchange. The sandbox gets its own secret (`SANDBOX_IG_APP_SECRET`); the live `IG_APP_SECRET`
/// is never sent to the sandbox host.
struct Target<'a> {
    graph: GraphClient,
    authorize: url::Url,
    app_secret: &'a SecretString,
}

fn target(s: &AppState, sandbox: bool) -> Result<Target<'_>, ApiError> {
    if !sandbox {
        return Ok(Target {
            graph: s.graphs.live.clone(),
            authorize: s.config.api().instagram_authorize_url.clone(),
            app_secret: &s.config.api().ig_app_secret,
        });
    }
    let (Some(graph), Some(base), Some(app_secret)) = (
        s.graphs.sandbox.clone(),
        s.config.sandbox_graph_api_base_url.as_ref(),
        s.config.api().sandbox_ig_app_secret.as_ref(),
    ) else {
        return Err(ApiError::Validation {
            code: ErrorCode::SandboxNotConfigured,
            message: "router_test_ keys use the sandbox Graph API, and SANDBOX_GRAPH_API_BASE_URL is not set".into(),
            details: None,
        });
    };
    let authorize = base.join("/oauth/authorize").map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Target { graph, authorize, app_secret })
}

/// `redirect_after` must be a plain http(s) URL at an allowed origin (an open redirect otherwise:
/// a phishing link that starts on the router's own domain).
fn check_redirect(s: &AppState, raw: &str) -> Result<(), ApiError> {
    let refuse = |reason: String| ApiError::BadRequest {
        code: ErrorCode::RedirectNotAllowed,
        message: format!("redirect_after: {reason}"),
        details: Some(serde_json::json!({ "field": "redirect_after", "reason": reason })),
    };
    let url = ssrf::check_form(raw, false).map_err(|e| refuse(e.to_string()))?;
    if !s.config.api().redirect_allowed(&url) {
        return Err(refuse(
            "its origin is not API_BASE_URL's nor one listed in OAUTH_REDIRECT_ALLOWED_ORIGINS".to_owned(),
        ));
    }
    Ok(())
}

/// Starts onboarding: returns Instagram's authorize URL (PKCE S256) and the state.
#[utoipa::path(get, path = "/api/v1/oauth/instagram/start", tag = "accounts", operation_id = "v1.oauth.start",
    params(StartQuery),
    responses((status = 200, body = StartResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all)]
async fn start(
    State(s): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<StartQuery>,
) -> ApiResult<AppJson<StartResponse>> {
    Ok(AppJson(start_as(&s, &auth, &q).await?))
}

/// Starts onboarding for `auth`: the REST API's and the admin console's ("Re-connect") one code
/// path.
///
/// # Errors
/// 403 for keys that cannot connect accounts, 422/400 for bad URLs, 503 without Redis.
pub async fn start_as(s: &AppState, auth: &Auth, q: &StartQuery) -> ApiResult<StartResponse> {
    let merchant_id = auth.merchant(Scope::AccountsWrite)?;
    if auth.account_ids.is_some() {
        return Err(ApiError::Forbidden("keys limited to specific accounts cannot connect new accounts".into()));
    }
    if let Some(u) = &q.crm_webhook_url {
        ssrf::check(u, s.config.is_production())
            .await
            .map_err(|e| ApiError::invalid("crm_webhook_url", e.to_string()))?;
    }
    if let Some(r) = &q.redirect_after {
        check_redirect(s, r)?;
    }
    let sandbox = auth.environment == KeyEnvironment::Test;
    let authorize = target(s, sandbox)?.authorize;
    let webhook_secret = q.crm_webhook_url.as_ref().map(|_| {
        let mut raw = [0u8; 32];
        for chunk in raw.chunks_mut(16) {
            chunk.copy_from_slice(Uuid::new_v4().as_bytes());
        }
        format!("whsec_{}", b64(&raw))
    });
    let verifier = router_core::crypto::random_base62(64);
    let pending = PendingAuth {
        merchant_id,
        code_verifier: verifier.clone(),
        sandbox,
        crm_webhook_url: q.crm_webhook_url.clone(),
        webhook_secret: webhook_secret.clone(),
        redirect_after: q.redirect_after.clone(),
    };
    let state = oauth::begin(&s.redis, &s.config.redis_key_prefix, &s.config.keyring, &pending)
        .await
        .map_err(|_| ApiError::Unavailable("Redis is unavailable; onboarding cannot start"))?;
    let mut url = authorize;
    url.query_pairs_mut()
        .append_pair("client_id", &s.config.api().meta_app_id)
        .append_pair("redirect_uri", &s.config.api().oauth_redirect_uri())
        .append_pair("response_type", "code")
        .append_pair("scope", "instagram_business_basic,instagram_business_manage_messages")
        .append_pair("state", &state)
        .append_pair("code_challenge", &oauth::challenge(&verifier))
        .append_pair("code_challenge_method", "S256");
    Ok(StartResponse {
        authorize_url: url.to_string(),
        state,
        webhook_secret,
        expires_at: OffsetDateTime::now_utc() + oauth::STATE_TTL,
    })
}

/// The callback's answer when the new token cannot read the account (and, for sandbox onboarding,
/// when the account is connected live: a test key cannot tell the two apart).
const ME_FAILED: &str = "the new token could not read the Instagram account";

/// Query of the OAuth callback (what Instagram appends to the redirect URI).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_reason: Option<String>,
    pub error_description: Option<String>,
}

/// Result of a successful onboarding (JSON form).
#[derive(Debug, Serialize, ToSchema)]
pub struct CallbackResponse {
    pub status: &'static str,
    pub account_id: Uuid,
    pub instagram_account_id: String,
    pub username: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub token_expires_at: Option<OffsetDateTime>,
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"))
}

fn page(status: StatusCode, title: &str, detail: &str) -> Response {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body><h1>{t}</h1><p>{d}</p></body></html>",
        t = esc(title),
        d = esc(detail)
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html)
        .into_response()
}

fn fail(headers: &HeaderMap, code: ErrorCode, message: &str, redirect: Option<&str>) -> ApiResult<Response> {
    if let Some(r) = redirect
        && let Ok(mut u) = url::Url::parse(r)
    {
        u.query_pairs_mut().append_pair("status", "error").append_pair("error", code.as_str());
        return Ok((StatusCode::FOUND, [(header::LOCATION, u.to_string())]).into_response());
    }
    if wants_json(headers) {
        return Err(ApiError::BadRequest { code, message: message.to_owned(), details: None });
    }
    Ok(page(StatusCode::BAD_REQUEST, "Instagram account not connected", message))
}

/// What the OAuth exchange produced: the account and its long-lived token.
struct Grant {
    ig_id: String,
    username: String,
    token: SecretString,
    expires_at: Option<OffsetDateTime>,
}

/// Why an onboarding is refused: the error code and the message shown to the merchant.
type Refusal = (ErrorCode, &'static str);

/// code → short-lived token → long-lived token → the account it reads, then the webhook
/// subscription. Meta refusing a step is a [`Refusal`]; only configuration errors are errors.
async fn exchange(s: &AppState, pending: &oauth::PendingAuth, code: &str) -> ApiResult<Result<Grant, Refusal>> {
    let Target { graph, app_secret: secret, .. } = target(s, pending.sandbox)?;
    let redirect_uri = s.config.api().oauth_redirect_uri();
    let app_id = &s.config.api().meta_app_id;
    let short = match graph.exchange_code(app_id, secret, &redirect_uri, code, Some(&pending.code_verifier)).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "code exchange refused");
            let why = "Instagram refused the authorization code (expired or already used)";
            return Ok(Err((ErrorCode::OauthExchangeFailed, why)));
        }
    };
    let long = match graph.exchange_long_lived(secret, &short.access_token).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "long-lived token exchange failed");
            return Ok(Err((ErrorCode::OauthExchangeFailed, "Instagram did not issue a long-lived token")));
        }
    };
    let me = match graph.me(&long.access_token).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "reading the account failed");
            return Ok(Err((ErrorCode::OauthExchangeFailed, ME_FAILED)));
        }
    };
    let Some(ig_id) = me.user_id.clone().or(short.user_id.clone()) else {
        return Ok(Err((ErrorCode::OauthExchangeFailed, "Instagram did not name the account")));
    };
    if let Err(e) = graph.subscribe_app(&long.access_token, SUBSCRIBED_FIELDS).await {
        tracing::warn!(error = %e, "subscribing the app to the account's webhooks failed");
        return Ok(Err((ErrorCode::SubscriptionFailed, "Instagram refused the webhook subscription; try again")));
    }
    let username = me.username.clone().unwrap_or_else(|| ig_id.clone());
    let expires_at = long.expires_in.map(|s| OffsetDateTime::now_utc() + time::Duration::seconds(s));
    Ok(Ok(Grant { ig_id, username, token: long.access_token, expires_at }))
}

/// Stores the connection in one transaction: the account (created, or its token replaced), its
/// CRM endpoint when the onboarding named one (a re-connection rotates the secret with overlap),
/// and the wake-up of sends that waited for a valid token. An Instagram id connected in the other
/// environment (live vs sandbox) is a [`Refusal`].
async fn store_connection(
    s: &AppState,
    pending: &oauth::PendingAuth,
    grant: &Grant,
) -> ApiResult<Result<Uuid, Refusal>> {
    let keyring = &s.config.keyring;
    let token_enc = keyring.encrypt(grant.token.expose_secret());
    let mut tx = db::begin_merchant_tx(&s.db, pending.merchant_id).await?;
    // A sandbox onboarding must not take over a live account, nor the reverse.
    let live_row = accounts::connected_environment(&mut tx, pending.merchant_id, &grant.ig_id).await?;
    if live_row.is_some_and(|sandbox| sandbox != pending.sandbox) {
        if pending.sandbox {
            // A test key must not learn that a live account exists (it sees only sandbox
            // accounts): the same answer as when the sandbox's token cannot read the account.
            // `(merchant, Instagram id)` is unique, so the onboarding cannot succeed either.
            tracing::info!("sandbox onboarding refused: the Instagram id is connected live");
            return Ok(Err((ErrorCode::OauthExchangeFailed, ME_FAILED)));
        }
        let why = "this Instagram account is connected in the other environment (live vs sandbox); use a key of that environment";
        return Ok(Err((ErrorCode::EnvironmentMismatch, why)));
    }
    let account = accounts::NewAccount {
        account_id: Uuid::now_v7(),
        merchant_id: pending.merchant_id,
        instagram_account_id: &grant.ig_id,
        username: &grant.username,
        access_token_enc: &token_enc,
        app_secret_enc: None,
        sandbox: pending.sandbox,
        token_expires_at: grant.expires_at,
    };
    let secret_enc = pending.webhook_secret.as_deref().map(|secret| keyring.encrypt(secret));
    // Re-connecting an account that already has an endpoint: the new secret signs next to the
    // old one for the overlap period, the event filter is kept.
    let overlap_until = OffsetDateTime::now_utc() + s.config.webhook_secret_overlap;
    let endpoint = match (&pending.crm_webhook_url, &secret_enc) {
        (Some(url), Some(secret_enc)) => Some(EndpointChange::Rotate { url, secret_enc, overlap_until }),
        _ => None,
    };
    let account_id = connect_account(&mut tx, &account, true, endpoint)
        .await?
        .ok_or(ApiError::Internal(anyhow::anyhow!("account upsert returned nothing")))?;
    tx.commit().await?;
    Ok(Ok(account_id))
}

/// Completes onboarding: code → short-lived token → long-lived token → account (token encrypted),
/// webhook subscription. Answers an HTML page, JSON (`Accept: application/json`), or a redirect to
/// `redirect_after`.
#[utoipa::path(get, path = "/oauth/instagram/callback", tag = "accounts", operation_id = "oauth.callback",
    params(CallbackQuery),
    responses((status = 200, body = CallbackResponse), (status = 302, description = "Redirect to redirect_after"),
              (status = 400, body = ErrorBody), (status = 422, description = "A NUL character in a parameter", body = ErrorBody)),
    security(()))]
#[tracing::instrument(skip_all)]
async fn callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    AppQuery(q): AppQuery<CallbackQuery>,
) -> ApiResult<Response> {
    let Some(state) = q.state.as_deref() else {
        return fail(&headers, ErrorCode::InvalidOauthState, "the state parameter is missing", None);
    };
    let pending = match oauth::take(&s.redis, &s.config.redis_key_prefix, &s.config.keyring, state).await {
        Ok(p) => p,
        Err(StateError::Redis(_)) => {
            return Err(ApiError::Unavailable("Redis is unavailable; retry the authorization"));
        }
        Err(e) => return fail(&headers, ErrorCode::InvalidOauthState, &e.to_string(), None),
    };
    // Checked at start; checked again so a state stored before the allow-list changed cannot
    // redirect elsewhere.
    let redirect = pending.redirect_after.as_deref().filter(|r| check_redirect(&s, r).is_ok());
    if let Some(err) = &q.error {
        let why = q.error_description.clone().or_else(|| q.error_reason.clone()).unwrap_or_else(|| err.clone());
        return fail(
            &headers,
            ErrorCode::OauthDenied,
            &format!("Instagram authorization was not granted: {why}"),
            redirect,
        );
    }
    let Some(code) = q.code.as_deref() else {
        return fail(&headers, ErrorCode::InvalidOauthCode, "the code parameter is missing", redirect);
    };
    let grant = match exchange(&s, &pending, code).await? {
        Ok(g) => g,
        Err((code, message)) => return fail(&headers, code, message, redirect),
    };
    let account_id = match store_connection(&s, &pending, &grant).await? {
        Ok(id) => id,
        Err((code, message)) => return fail(&headers, code, message, redirect),
    };
    tracing::info!(account.id = %account_id, "Instagram account connected through OAuth");
    let Grant { ig_id, username, expires_at, .. } = grant;

    if let Some(r) = redirect
        && let Ok(mut u) = url::Url::parse(r)
    {
        u.query_pairs_mut().append_pair("status", "connected").append_pair("account_id", &account_id.to_string());
        return Ok((StatusCode::FOUND, [(header::LOCATION, u.to_string())]).into_response());
    }
    if wants_json(&headers) {
        let body = CallbackResponse {
            status: "connected",
            account_id,
            instagram_account_id: ig_id,
            username,
            token_expires_at: expires_at,
        };
        return Ok((StatusCode::OK, AppJson(body)).into_response());
    }
    Ok(page(
        StatusCode::OK,
        "Instagram account connected",
        &format!("@{username} is now connected to Message Router. You can close this page."),
    ))
}

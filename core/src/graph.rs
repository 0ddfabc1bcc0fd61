//! The one client for Meta's Instagram Graph API (Instagram Login flavour).
//!
//! Every call to Meta goes through [`GraphClient`], so timeouts, error parsing, usage headers and
//! the retry classification ([`GraphError::class`]) live in one place. The base URLs come from
//! configuration: tests and the local sandbox point them at `router-fakes`' fake Graph API.
//! Sources for shapes and codes: `research/meta-instagram-api.md` §3–§6.
//!
//! Tokens are sent in the `Authorization: Bearer` header (never in a logged URL), exposed from
//! their [`SecretString`] only while the request is built.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::outbound::{Media, SendPart};
use serde::{Deserialize, Serialize};
use url::Url;

/// A Graph API error body: `{"error": {...}}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct GraphErrorBody {
    pub message: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub code: i64,
    #[serde(default)]
    pub error_subcode: Option<i64>,
    #[serde(default)]
    pub fbtrace_id: Option<String>,
    #[serde(default)]
    pub is_transient: Option<bool>,
}

/// What to do about a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Temporary: retry with exponential backoff + full jitter.
    Retryable,
    /// Rate limited by Meta: retry after at least `min_wait`, without hammering.
    Throttled { min_wait: Option<Duration> },
    /// The token is invalid or expired (190/102): stop sending for the account until re-auth.
    TokenInvalid,
    /// Fails for good (window closed, bad recipient, permissions…): do not retry.
    Permanent,
}

/// Usage reported by Meta in `X-App-Usage` / `X-Business-Use-Case-Usage`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Highest percentage of any quota in the headers (0–100+).
    pub max_percent: u32,
    /// `estimated_time_to_regain_access` (minutes, per Meta) turned into a wait.
    pub regain_after: Option<Duration>,
}

/// Errors from a Graph call.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("Graph API error {code}/{subcode:?} (HTTP {http_status}): {message}", code = body.code, subcode = body.error_subcode, message = body.message)]
    Api { http_status: u16, body: Box<GraphErrorBody>, usage: Usage },
    #[error("Graph API did not answer within the timeout")]
    Timeout,
    /// The connection failed after the request may have been written (reset, closed mid-answer):
    /// Meta may have processed it.
    #[error("could not reach the Graph API: {0}")]
    Transport(String),
    /// No connection was made: nothing reached Meta.
    #[error("could not connect to the Graph API: {0}")]
    Connect(String),
    #[error("unexpected Graph API response (HTTP {status})")]
    Decode { status: u16 },
}

/// Codes Meta documents as temporary (retry with backoff).
const RETRYABLE_CODES: &[i64] = &[1, 2];
/// Rate-limit codes (back off, honour usage headers).
const THROTTLE_CODES: &[i64] = &[4, 17, 32, 613, 80002, 80006];

/// Meta error codes the router names in metric labels (with 200–299); others count as `other`.
const KNOWN_CODES: &[i64] = &[1, 2, 4, 10, 17, 32, 100, 102, 190, 368, 551, 613, 80002, 80006];

/// The `reason` label of a failed message: its error code, with Meta's unnamed codes
/// (`instagram_error_{n}`, any number a Graph response holds) folded into `instagram_error_other`.
#[must_use]
pub fn failure_reason_label(code: &str) -> &str {
    if code.starts_with("instagram_error_") { "instagram_error_other" } else { code }
}

impl GraphError {
    /// Retry classification (DESIGN §6).
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Timeout | Self::Transport(_) | Self::Connect(_) => ErrorClass::Retryable,
            // A bare 429 (no Graph error body) is still Meta throttling us.
            Self::Decode { status: 429 } => ErrorClass::Throttled { min_wait: None },
            Self::Decode { status } if *status >= 500 => ErrorClass::Retryable,
            Self::Decode { .. } => ErrorClass::Permanent,
            Self::Api { http_status, body, usage } => {
                // 1/1357046: Meta says the message may have been sent anyway. Retryable, but the
                // send job never resends blindly: it holds the send and settles it from the echo
                // webhook first (`crate::reconcile`).
                if THROTTLE_CODES.contains(&body.code) || *http_status == 429 {
                    return ErrorClass::Throttled { min_wait: usage.regain_after };
                }
                if body.code == 190 || body.code == 102 {
                    return ErrorClass::TokenInvalid;
                }
                if RETRYABLE_CODES.contains(&body.code) || *http_status >= 500 || body.is_transient == Some(true) {
                    return ErrorClass::Retryable;
                }
                ErrorClass::Permanent
            }
        }
    }

    /// A stable, documented error code for the message status API and `message.failed`.
    #[must_use]
    pub fn error_code(&self) -> String {
        match self {
            Self::Timeout => "instagram_timeout".to_owned(),
            Self::Transport(_) | Self::Connect(_) => "instagram_unreachable".to_owned(),
            Self::Decode { .. } => "instagram_bad_response".to_owned(),
            Self::Api { body, .. } => match (body.code, body.error_subcode) {
                (10, Some(2_534_022)) => "outside_messaging_window".to_owned(),
                (1, Some(1_357_046)) => "instagram_ambiguous_result".to_owned(),
                (100, Some(2_534_014)) => "invalid_recipient".to_owned(),
                (551, _) => "recipient_unavailable".to_owned(),
                (190 | 102, _) => "instagram_token_invalid".to_owned(),
                (10, _) | (200..=299, _) => "instagram_permission_denied".to_owned(),
                (100, _) => "instagram_invalid_parameter".to_owned(),
                (368, _) => "instagram_policy_block".to_owned(),
                (c, _) if THROTTLE_CODES.contains(&c) => "instagram_rate_limited".to_owned(),
                (c, _) => format!("instagram_error_{c}"),
            },
        }
    }

    /// The Meta code and subcode, when the error came from Meta.
    #[must_use]
    pub fn meta_code(&self) -> Option<(i64, Option<i64>)> {
        match self {
            Self::Api { body, .. } => Some((body.code, body.error_subcode)),
            _ => None,
        }
    }

    /// A short label for metrics (bounded set).
    #[must_use]
    pub fn metric_label(&self) -> String {
        match self {
            // Meta's documented codes only: the code is read from a response body (the sandbox
            // Graph's can be scripted), so any other number would add a label value.
            Self::Api { body, .. } if KNOWN_CODES.contains(&body.code) || (200..=299).contains(&body.code) => {
                body.code.to_string()
            }
            Self::Api { .. } => "other".to_owned(),
            Self::Timeout => "timeout".to_owned(),
            Self::Transport(_) | Self::Connect(_) => "transport".to_owned(),
            Self::Decode { .. } => "decode".to_owned(),
        }
    }
}

/// `GET /me` result.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Me {
    /// The professional account id (what webhooks carry as `entry.id` / `recipient.id`).
    #[serde(default, deserialize_with = "string_or_number_opt")]
    pub user_id: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// App-scoped id.
    #[serde(default, deserialize_with = "string_or_number_opt")]
    pub id: Option<String>,
}

/// `POST /{ig_id}/messages` success.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SendResult {
    pub recipient_id: String,
    pub message_id: String,
    #[serde(skip)]
    pub usage: Usage,
}

/// A token from the OAuth endpoints.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub access_token: SecretString,
    pub user_id: Option<String>,
    pub expires_in: Option<i64>,
}

fn string_or_number_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// The live Graph client and the sandbox one (`SANDBOX_GRAPH_API_BASE_URL`), built once from the
/// configuration: the one place that decides which client serves an account.
#[derive(Clone, Debug)]
pub struct Graphs {
    /// For live accounts (`GRAPH_API_BASE_URL`).
    pub live: GraphClient,
    /// For sandbox accounts (`router_test_` keys), when configured.
    pub sandbox: Option<GraphClient>,
}

impl Graphs {
    /// Both clients from `GRAPH_API_BASE_URL` + `INSTAGRAM_OAUTH_BASE_URL` (live),
    /// `SANDBOX_GRAPH_API_BASE_URL` (sandbox: Graph and OAuth on one host), `GRAPH_API_VERSION`
    /// and `GRAPH_TIMEOUT_SECS`.
    #[must_use]
    pub fn from_config(config: &crate::config::Config) -> Self {
        let live = GraphClient::new(
            config.graph_api_base_url.clone(),
            config.instagram_oauth_base_url.clone(),
            &config.graph_api_version,
            config.graph_timeout,
        );
        // The sandbox serves its own OAuth exchange too: nothing of a sandbox onboarding (code,
        // sandbox app secret) ever goes to the live OAuth host.
        let sandbox = config
            .sandbox_graph_api_base_url
            .clone()
            .map(|u| GraphClient::new(u.clone(), u, &config.graph_api_version, config.graph_timeout));
        Self { live, sandbox }
    }

    /// The client serving an account; `None` for a sandbox account when no sandbox is configured.
    #[must_use]
    pub fn for_account(&self, sandbox: bool) -> Option<&GraphClient> {
        if sandbox { self.sandbox.as_ref() } else { Some(&self.live) }
    }
}

/// The Graph API client (a `reqwest::Client` is an `Arc` inside: clone freely).
#[derive(Clone, Debug)]
pub struct GraphClient {
    http: reqwest::Client,
    base_url: Url,
    oauth_base_url: Url,
    version: String,
}

impl GraphClient {
    /// Builds a client with the given timeout.
    ///
    /// # Panics
    /// If the TLS backend cannot initialise (a broken build, not a runtime condition).
    #[must_use]
    pub fn new(base_url: Url, oauth_base_url: Url, version: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("message-router/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("reqwest client");
        Self { http, base_url, oauth_base_url, version: version.to_owned() }
    }

    /// Same client, other Graph host (the sandbox for `router_test_` accounts).
    #[must_use]
    pub fn with_base_url(&self, base_url: Url) -> Self {
        Self { base_url, ..self.clone() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}/{}", self.base_url.as_str().trim_end_matches('/'), self.version, path.trim_start_matches('/'))
    }

    fn unversioned(&self, path: &str) -> String {
        format!("{}/{}", self.base_url.as_str().trim_end_matches('/'), path.trim_start_matches('/'))
    }

    /// Reads a Graph response and records `router_instagram_api_calls_total{op,code}` and
    /// `router_instagram_api_duration_seconds{op}` for every call, whatever its outcome.
    async fn finish<T: serde::de::DeserializeOwned>(
        op: &'static str,
        started: std::time::Instant,
        resp: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<(T, Usage), GraphError> {
        let r = Self::read::<T>(resp).await;
        observe(op, started, r.as_ref().err());
        r
    }

    async fn read<T: serde::de::DeserializeOwned>(
        resp: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<(T, Usage), GraphError> {
        let resp = resp.map_err(map_transport)?;
        let status = resp.status().as_u16();
        let usage = parse_usage(resp.headers());
        let bytes = resp.bytes().await.map_err(map_transport)?;
        if (200..300).contains(&status) {
            let v = serde_json::from_slice(&bytes).map_err(|_| GraphError::Decode { status })?;
            return Ok((v, usage));
        }
        #[derive(Deserialize)]
        struct Envelope {
            error: GraphErrorBody,
        }
        match serde_json::from_slice::<Envelope>(&bytes) {
            Ok(e) => Err(GraphError::Api { http_status: status, body: Box::new(e.error), usage }),
            Err(_) => Err(GraphError::Decode { status }),
        }
    }

    /// `GET /me?fields=user_id,username,id`: validates a token and names its account.
    ///
    /// # Errors
    /// [`GraphError`].
    #[tracing::instrument(skip_all)]
    pub async fn me(&self, token: &SecretString) -> Result<Me, GraphError> {
        let started = std::time::Instant::now();
        let resp = self
            .http
            .get(self.url("me"))
            .query(&[("fields", "user_id,username,id")])
            .bearer_auth(token.expose_secret())
            .send()
            .await;
        Ok(Self::finish::<Me>("me", started, resp).await?.0)
    }

    /// `POST /{ig_id}/messages`: one Send API call of a message to `recipient_id` (body from
    /// [`send_body`]).
    ///
    /// # Errors
    /// [`GraphError`].
    #[tracing::instrument(skip_all, fields(ig.account = %ig_id))]
    pub async fn send_part(
        &self,
        ig_id: &str,
        token: &SecretString,
        recipient_id: &str,
        part: &SendPart<'_>,
        tag: Option<&str>,
    ) -> Result<SendResult, GraphError> {
        let started = std::time::Instant::now();
        let resp = self
            .http
            .post(self.url(&format!("{ig_id}/messages")))
            .bearer_auth(token.expose_secret())
            .json(&send_body(recipient_id, part, tag))
            .send()
            .await;
        let (mut r, usage) = Self::finish::<SendResult>("send", started, resp).await?;
        r.usage = usage;
        Ok(r)
    }

    /// `POST /{ig_id}/messages` with a `sender_action` (research §3.4): a typing indicator, a
    /// read mark, or a reaction to one of the customer's messages. Meta answers `{recipient_id}`
    /// only; nothing is stored.
    ///
    /// # Errors
    /// [`GraphError`].
    #[tracing::instrument(skip_all, fields(ig.account = %ig_id))]
    pub async fn sender_action(
        &self,
        ig_id: &str,
        token: &SecretString,
        recipient_id: &str,
        action: &SenderAction<'_>,
    ) -> Result<(), GraphError> {
        use serde_json::json;
        let mut body = json!({"recipient": {"id": recipient_id}, "sender_action": action.name()});
        match action {
            SenderAction::React { mid, reaction } => body["payload"] = json!({"message_id": mid, "reaction": reaction}),
            SenderAction::Unreact { mid } => body["payload"] = json!({"message_id": mid}),
            SenderAction::TypingOn | SenderAction::TypingOff | SenderAction::MarkSeen => {}
        }
        let started = std::time::Instant::now();
        let resp = self
            .http
            .post(self.url(&format!("{ig_id}/messages")))
            .bearer_auth(token.expose_secret())
            .json(&body)
            .send()
            .await;
        Self::finish::<serde_json::Value>("sender_action", started, resp).await.map(|_| ())
    }

    /// `GET /me/messenger_profile?platform=instagram&fields=…`: the account's ice breakers and
    /// persistent menu as Meta stores them (`{"data": [{field: …}]}`; the first element).
    ///
    /// # Errors
    /// [`GraphError`].
    pub async fn messenger_profile(
        &self,
        token: &SecretString,
        fields: &[&str],
    ) -> Result<serde_json::Value, GraphError> {
        let started = std::time::Instant::now();
        let resp = self
            .http
            .get(self.url("me/messenger_profile"))
            .query(&[("platform", "instagram"), ("fields", &fields.join(","))])
            .bearer_auth(token.expose_secret())
            .send()
            .await;
        let (v, _) = Self::finish::<serde_json::Value>("messenger_profile", started, resp).await?;
        Ok(v.pointer("/data/0").cloned().unwrap_or_else(|| serde_json::json!({})))
    }

    /// `POST /me/messenger_profile` with `{"platform": "instagram", field: value}`: sets the
    /// account's ice breakers or persistent menu (Meta replaces the whole field).
    ///
    /// # Errors
    /// [`GraphError`].
    pub async fn set_messenger_profile(
        &self,
        token: &SecretString,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<(), GraphError> {
        let body = serde_json::json!({"platform": "instagram", field: value});
        let started = std::time::Instant::now();
        let resp = self
            .http
            .post(self.url("me/messenger_profile"))
            .bearer_auth(token.expose_secret())
            .json(&body)
            .send()
            .await;
        Self::finish::<serde_json::Value>("messenger_profile", started, resp).await.map(|_| ())
    }

    /// `DELETE /me/messenger_profile` with `{"platform": "instagram", "fields": [field]}`.
    ///
    /// # Errors
    /// [`GraphError`].
    pub async fn delete_messenger_profile(&self, token: &SecretString, field: &str) -> Result<(), GraphError> {
        let body = serde_json::json!({"platform": "instagram", "fields": [field]});
        let started = std::time::Instant::now();
        let resp = self
            .http
            .delete(self.url("me/messenger_profile"))
            .bearer_auth(token.expose_secret())
            .json(&body)
            .send()
            .await;
        Self::finish::<serde_json::Value>("messenger_profile", started, resp).await.map(|_| ())
    }

    /// `POST /me/subscribed_apps?subscribed_fields=…`: subscribes the app to the account's
    /// messaging webhooks.
    ///
    /// # Errors
    /// [`GraphError`].
    pub async fn subscribe_app(&self, token: &SecretString, fields: &str) -> Result<(), GraphError> {
        let started = std::time::Instant::now();
        let resp = self
            .http
            .post(self.url("me/subscribed_apps"))
            .query(&[("subscribed_fields", fields)])
            .bearer_auth(token.expose_secret())
            .send()
            .await;
        Self::finish::<serde_json::Value>("subscribe", started, resp).await.map(|_| ())
    }

    /// `POST {oauth}/oauth/access_token`: code → short-lived token. Accepts both the documented
    /// `{"data":[{...}]}` shape and the flat one seen in practice.
    ///
    /// # Errors
    /// [`GraphError`]; the OAuth host's `{error_type, code, error_message}` errors map to `Api`.
    pub async fn exchange_code(
        &self,
        app_id: &str,
        app_secret: &SecretString,
        redirect_uri: &str,
        code: &str,
        code_verifier: Option<&str>,
    ) -> Result<TokenGrant, GraphError> {
        let mut form = vec![
            ("client_id", app_id.to_owned()),
            ("client_secret", app_secret.expose_secret().to_owned()),
            ("grant_type", "authorization_code".to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
            ("code", code.trim_end_matches("#_").to_owned()),
        ];
        if let Some(v) = code_verifier {
            form.push(("code_verifier", v.to_owned()));
        }
        let url = format!("{}/oauth/access_token", self.oauth_base_url.as_str().trim_end_matches('/'));
        let started = std::time::Instant::now();
        let result = self.exchange_code_inner(url, &form).await;
        observe("exchange_code", started, result.as_ref().err());
        let v = result?;
        let status = 200;
        let item = v.get("data").and_then(|d| d.get(0)).unwrap_or(&v);
        let token = item.get("access_token").and_then(|t| t.as_str()).ok_or(GraphError::Decode { status })?;
        let user_id = match item.get("user_id") {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Ok(TokenGrant { access_token: SecretString::from(token.to_owned()), user_id, expires_in: None })
    }

    async fn exchange_code_inner(&self, url: String, form: &[(&str, String)]) -> Result<serde_json::Value, GraphError> {
        let resp = self.http.post(url).form(form).send().await.map_err(map_transport)?;
        let status = resp.status().as_u16();
        let v: serde_json::Value = resp.json().await.map_err(|_| GraphError::Decode { status })?;
        if !(200..300).contains(&status) {
            return Err(oauth_error(status, &v));
        }
        Ok(v)
    }

    /// `GET /access_token?grant_type=ig_exchange_token`: short → long-lived (60 days).
    ///
    /// # Errors
    /// [`GraphError`].
    pub async fn exchange_long_lived(
        &self,
        app_secret: &SecretString,
        short: &SecretString,
    ) -> Result<TokenGrant, GraphError> {
        let started = std::time::Instant::now();
        let resp = self
            .http
            .get(self.unversioned("access_token"))
            .query(&[
                ("grant_type", "ig_exchange_token"),
                ("client_secret", app_secret.expose_secret()),
                ("access_token", short.expose_secret()),
            ])
            .send()
            .await;
        token_grant(Self::finish::<serde_json::Value>("exchange_token", started, resp).await?.0)
    }

    /// `GET /refresh_access_token?grant_type=ig_refresh_token`.
    ///
    /// # Errors
    /// [`GraphError`].
    pub async fn refresh_token(&self, long: &SecretString) -> Result<TokenGrant, GraphError> {
        let started = std::time::Instant::now();
        let resp = self
            .http
            .get(self.unversioned("refresh_access_token"))
            .query(&[("grant_type", "ig_refresh_token"), ("access_token", long.expose_secret())])
            .send()
            .await;
        token_grant(Self::finish::<serde_json::Value>("refresh_token", started, resp).await?.0)
    }
}

fn token_grant(v: serde_json::Value) -> Result<TokenGrant, GraphError> {
    let token = v.get("access_token").and_then(|t| t.as_str()).ok_or(GraphError::Decode { status: 200 })?;
    Ok(TokenGrant {
        access_token: SecretString::from(token.to_owned()),
        user_id: None,
        expires_in: v.get("expires_in").and_then(serde_json::Value::as_i64),
    })
}

fn oauth_error(status: u16, v: &serde_json::Value) -> GraphError {
    if let Some(e) = v.get("error").filter(|e| e.is_object())
        && let Ok(body) = serde_json::from_value::<GraphErrorBody>(e.clone())
    {
        return GraphError::Api { http_status: status, body: Box::new(body), usage: Usage::default() };
    }
    let message = v.get("error_message").and_then(|m| m.as_str()).unwrap_or("OAuth error").to_owned();
    let code = v.get("code").and_then(serde_json::Value::as_i64).unwrap_or(i64::from(status));
    GraphError::Api {
        http_status: status,
        body: Box::new(GraphErrorBody {
            message,
            kind: v.get("error_type").and_then(|m| m.as_str()).map(str::to_owned),
            code,
            error_subcode: None,
            fbtrace_id: None,
            is_transient: None,
        }),
        usage: Usage::default(),
    }
}

fn observe(op: &'static str, started: std::time::Instant, err: Option<&GraphError>) {
    let code = err.map_or_else(|| "ok".to_owned(), GraphError::metric_label);
    metrics::counter!("router_instagram_api_calls_total", "op" => op, "code" => code).increment(1);
    metrics::histogram!("router_instagram_api_duration_seconds", "op" => op).record(started.elapsed().as_secs_f64());
}

fn map_transport(e: reqwest::Error) -> GraphError {
    if e.is_connect() {
        GraphError::Connect(e.without_url().to_string())
    } else if e.is_timeout() {
        GraphError::Timeout
    } else {
        // Without the URL: it may carry a token in the query (OAuth endpoints).
        GraphError::Transport(e.without_url().to_string())
    }
}

/// Reads `X-App-Usage` and `X-Business-Use-Case-Usage` (JSON strings of percentages).
#[must_use]
pub fn parse_usage(headers: &reqwest::header::HeaderMap) -> Usage {
    let mut usage = Usage::default();
    let pct = |v: &serde_json::Value, k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0) as u32;
    if let Some(v) = headers.get("x-app-usage").and_then(|h| h.to_str().ok())
        && let Ok(j) = serde_json::from_str::<serde_json::Value>(v)
    {
        usage.max_percent =
            usage.max_percent.max(pct(&j, "call_count")).max(pct(&j, "total_cputime")).max(pct(&j, "total_time"));
    }
    if let Some(v) = headers.get("x-business-use-case-usage").and_then(|h| h.to_str().ok())
        && let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(v)
    {
        for entries in map.values() {
            for e in entries.as_array().into_iter().flatten() {
                usage.max_percent =
                    usage.max_percent.max(pct(e, "call_count")).max(pct(e, "total_cputime")).max(pct(e, "total_time"));
                let minutes = e.get("estimated_time_to_regain_access").and_then(serde_json::Value::as_u64).unwrap_or(0);
                if minutes > 0 {
                    let d = Duration::from_secs(minutes * 60);
                    usage.regain_after = Some(usage.regain_after.map_or(d, |c| c.max(d)));
                }
            }
        }
    }
    usage
}

/// A sender action (research §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderAction<'a> {
    TypingOn,
    TypingOff,
    MarkSeen,
    /// React to the customer's message `mid` with `reaction` (`love` or an emoji).
    React {
        mid: &'a str,
        reaction: &'a str,
    },
    /// Remove our reaction from the customer's message `mid`.
    Unreact {
        mid: &'a str,
    },
}

impl SenderAction<'_> {
    /// Meta's `sender_action` value.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::TypingOn => "typing_on",
            Self::TypingOff => "typing_off",
            Self::MarkSeen => "mark_seen",
            Self::React { .. } => "react",
            Self::Unreact { .. } => "unreact",
        }
    }
}

/// The Send API body of one part (research/meta-instagram-api.md §3.2): the recipient, the
/// message (`attachment`, `attachments` for several images, `text` with its quick replies, a
/// `template` attachment or the `like_heart` sticker), and with a tag `messaging_type:
/// MESSAGE_TAG` plus the tag.
#[must_use]
pub fn send_body(recipient_id: &str, part: &SendPart<'_>, tag: Option<&str>) -> serde_json::Value {
    use serde_json::json;
    let media = |m: &Media| json!({"type": m.kind, "payload": {"url": m.url}});
    let message = match part {
        SendPart::Media(m) => json!({"attachment": media(m)}),
        SendPart::Images(items) => json!({"attachments": items.iter().map(media).collect::<Vec<_>>()}),
        SendPart::Text { text, quick_replies } => {
            let mut message = json!({"text": text});
            if !quick_replies.is_empty() {
                message["quick_replies"] = quick_replies
                    .iter()
                    .map(|b| json!({"content_type": "text", "title": b.title, "payload": b.payload}))
                    .collect();
            }
            message
        }
        SendPart::Template(t) => {
            let mut payload = serde_json::to_value(t).unwrap_or_default();
            if let crate::outbound::Template::Generic(crate::outbound::GenericTemplate { elements }) = t {
                // The stored card names the tap target `default_action_url`; Meta wants an action.
                for (card, out) in elements.iter().zip(payload["elements"].as_array_mut().into_iter().flatten()) {
                    if let (Some(url), Some(o)) = (&card.default_action_url, out.as_object_mut()) {
                        o.remove("default_action_url");
                        o.insert("default_action".into(), json!({"type": "web_url", "url": url}));
                    }
                }
            }
            json!({"attachment": {"type": "template", "payload": payload}})
        }
        SendPart::Sticker(s) => json!({"attachment": s}),
    };
    let mut body = json!({"recipient": {"id": recipient_id}, "message": message});
    if let Some(tag) = tag {
        body["messaging_type"] = json!("MESSAGE_TAG");
        body["tag"] = json!(tag);
    }
    body
}

#[cfg(test)]
mod label_tests {
    use super::{GraphError, GraphErrorBody, Usage, failure_reason_label};

    fn api(code: i64) -> GraphError {
        GraphError::Api {
            http_status: 400,
            body: Box::new(GraphErrorBody {
                message: String::new(),
                kind: None,
                code,
                error_subcode: None,
                fbtrace_id: None,
                is_transient: None,
            }),
            usage: Usage::default(),
        }
    }

    #[test]
    fn metric_labels_from_graph_responses_come_from_a_fixed_set() {
        assert_eq!(api(190).metric_label(), "190");
        assert_eq!(api(230).metric_label(), "230");
        assert_eq!(api(987_654_321).metric_label(), "other");
        assert_eq!(api(-5).metric_label(), "other");
        assert_eq!(failure_reason_label(&api(987_654_321).error_code()), "instagram_error_other");
        assert_eq!(failure_reason_label(&api(551).error_code()), "recipient_unavailable");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_bodies_follow_meta_shapes_with_the_tag_on_every_part() {
        use crate::outbound::{MediaKind, QuickReply};
        use serde_json::json;
        let video = Media { kind: MediaKind::Video, url: "https://cdn.example/v.mp4".into() };
        let body = send_body("42", &SendPart::Media(&video), Some("HUMAN_AGENT"));
        assert_eq!(
            body,
            json!({"recipient": {"id": "42"}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT",
                   "message": {"attachment": {"type": "video", "payload": {"url": "https://cdn.example/v.mp4"}}}})
        );
        let images = [
            Media { kind: MediaKind::Image, url: "https://a/1.png".into() },
            Media { kind: MediaKind::Image, url: "https://a/2.png".into() },
        ];
        let body = send_body("42", &SendPart::Images(&images), None);
        assert_eq!(body["message"]["attachments"][1], json!({"type": "image", "payload": {"url": "https://a/2.png"}}));
        assert!(body.get("tag").is_none() && body.get("messaging_type").is_none());
        let quick = [QuickReply { title: "Yes".into(), payload: "Y".into() }];
        let body = send_body("42", &SendPart::Text { text: "hi", quick_replies: &quick }, None);
        assert_eq!(
            body["message"],
            json!({"text": "hi", "quick_replies": [{"content_type": "text", "title": "Yes", "payload": "Y"}]})
        );
        let body = send_body("42", &SendPart::Text { text: "hi", quick_replies: &[] }, None);
        assert_eq!(body["message"], json!({"text": "hi"}));
    }

    #[test]
    fn templates_and_the_heart_use_metas_attachment_shapes() {
        use crate::outbound::{Button, ButtonTemplate, Card, GenericTemplate, Sticker, Template};
        use serde_json::json;
        let card = Card {
            title: "Hat".into(),
            subtitle: None,
            image_url: Some("https://cdn.example/h.png".into()),
            default_action_url: Some("https://shop.example/h".into()),
            buttons: vec![Button::Postback { title: "More".into(), payload: "MORE".into() }],
        };
        let generic = Template::Generic(GenericTemplate { elements: vec![card] });
        assert_eq!(
            send_body("42", &SendPart::Template(&generic), None)["message"],
            json!({"attachment": {"type": "template", "payload": {"template_type": "generic", "elements": [{
                "title": "Hat", "image_url": "https://cdn.example/h.png",
                "default_action": {"type": "web_url", "url": "https://shop.example/h"},
                "buttons": [{"type": "postback", "title": "More", "payload": "MORE"}]}]}}})
        );
        let buttons = Template::Button(ButtonTemplate {
            text: "Need help?".into(),
            buttons: vec![Button::WebUrl { title: "Site".into(), url: "https://shop.example".into() }],
        });
        assert_eq!(
            send_body("42", &SendPart::Template(&buttons), None)["message"]["attachment"]["payload"],
            json!({"template_type": "button", "text": "Need help?",
                   "buttons": [{"type": "web_url", "title": "Site", "url": "https://shop.example"}]})
        );
        assert_eq!(
            send_body("42", &SendPart::Sticker(Sticker::LikeHeart), None)["message"],
            json!({"attachment": {"type": "like_heart"}})
        );
    }

    fn api(code: i64, sub: Option<i64>, status: u16) -> GraphError {
        GraphError::Api {
            http_status: status,
            body: Box::new(GraphErrorBody {
                message: "m".into(),
                kind: None,
                code,
                error_subcode: sub,
                fbtrace_id: None,
                is_transient: None,
            }),
            usage: Usage::default(),
        }
    }

    #[test]
    fn codes_are_classified_as_design_section_6_says() {
        for c in [1, 2] {
            assert_eq!(api(c, None, 500).class(), ErrorClass::Retryable, "{c}");
        }
        for c in [4, 17, 32, 613, 80002, 80006] {
            assert!(matches!(api(c, None, 400).class(), ErrorClass::Throttled { .. }), "{c}");
        }
        assert_eq!(api(190, Some(463), 400).class(), ErrorClass::TokenInvalid);
        for (c, s) in [(10, Some(2_534_022)), (100, None), (551, None)] {
            assert_eq!(api(c, s, 400).class(), ErrorClass::Permanent, "{c}/{s:?}");
        }
        // "May have been sent anyway": retried, but only after the echo reconciliation.
        assert_eq!(api(1, Some(1_357_046), 500).class(), ErrorClass::Retryable);
        assert_eq!(api(1, Some(1_357_046), 500).error_code(), "instagram_ambiguous_result");
        assert_eq!(api(10, Some(2_534_022), 400).error_code(), "outside_messaging_window");
        assert_eq!(GraphError::Timeout.class(), ErrorClass::Retryable);
        assert_eq!(GraphError::Decode { status: 503 }.class(), ErrorClass::Retryable);
    }

    #[test]
    fn usage_headers_are_read_as_percentages_and_minutes() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-app-usage", r#"{"call_count":28,"total_cputime":25,"total_time":25}"#.parse().unwrap());
        h.insert(
            "x-business-use-case-usage",
            r#"{"1784":[{"type":"instagram","call_count":95,"total_cputime":20,"total_time":25,"estimated_time_to_regain_access":2}]}"#
                .parse()
                .unwrap(),
        );
        let u = parse_usage(&h);
        assert_eq!(u.max_percent, 95);
        assert_eq!(u.regain_after, Some(Duration::from_secs(120)));
    }
}

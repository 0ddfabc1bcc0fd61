//! The demo CRM of the local sandbox (`demo-crm`, 127.0.0.1:9999, started by `scripts/dev-up.sh`).
//!
//! What a merchant's CRM does with the router, in one small page:
//! - receives the router's webhooks on `POST /hooks` and verifies **both** signature schemes
//!   (`X-Hub-Signature-256` and Standard Webhooks) with [`crate::crm`]'s independent verifiers;
//! - shows every event it received on `GET /` (newest first, refreshing itself), with both checks;
//! - answers a customer through the router's REST API (`POST /api/v1/messages/send` with its own
//!   `router_test_` key) from a reply box under each `message.received`;
//! - can be "broken" on purpose (answer 500, or 401) to watch retries and the dead-letter queue.
//!
//! On start, [`setup`] wires the sandbox end to end so nobody copies a token by hand: a merchant
//! "Demo shop", a test key for this CRM, and the sandbox Instagram account connected with a fresh
//! sandbox token and this CRM's URL and secret (kept in a state file across restarts).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// Events kept for the page.
const KEEP: usize = 200;

/// How the CRM answers deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// 200: accept.
    Accept,
    /// 500: a broken CRM (the router retries with backoff).
    Fail,
    /// 401: a CRM refusing the router (straight to the dead-letter queue).
    Reject,
}

impl Mode {
    fn status(self) -> u16 {
        match self {
            Self::Accept => 200,
            Self::Fail => 500,
            Self::Reject => 401,
        }
    }
}

/// One webhook the CRM received.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub event: String,
    pub webhook_id: Option<String>,
    pub attempt: Option<String>,
    pub hub_signature_valid: bool,
    pub standard_signature_valid: bool,
    pub status_returned: u16,
    pub body: Value,
}

/// What the CRM needs to talk to the router (the state file's content).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Wiring {
    pub merchant_id: String,
    pub api_key: String,
    pub webhook_secret: String,
    pub account_id: String,
}

#[derive(Debug)]
struct Inner {
    events: VecDeque<Event>,
    mode: Mode,
    last_action: Option<String>,
}

/// A running demo CRM.
#[derive(Clone)]
pub struct DemoCrm {
    router_url: String,
    wiring: Arc<Wiring>,
    inner: Arc<Mutex<Inner>>,
    http: reqwest::Client,
}

impl DemoCrm {
    /// A CRM for `wiring`, talking to the router at `router_url`.
    #[must_use]
    pub fn new(router_url: &str, wiring: Wiring) -> Self {
        Self {
            router_url: router_url.trim_end_matches('/').to_owned(),
            wiring: Arc::new(wiring),
            inner: Arc::new(Mutex::new(Inner { events: VecDeque::new(), mode: Mode::Accept, last_action: None })),
            http: reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().expect("client"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("demo crm lock")
    }

    /// Events received, newest first.
    #[must_use]
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.iter().cloned().collect()
    }

    /// Routes: `GET /`, `GET /events.json`, `POST /hooks`, `POST /reply`, `POST /mode`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/events.json", get(events_json))
            .route("/hooks", post(receive))
            .route("/reply", post(reply))
            .route("/mode", post(set_mode))
            .with_state(self.clone())
    }
}

async fn receive(State(crm): State<DemoCrm>, headers: HeaderMap, body: Bytes) -> Response {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let secrets = [crm.wiring.webhook_secret.clone()];
    let hub = crate::crm::verify_hub(&secrets, &body, h("x-hub-signature-256"));
    let std =
        crate::crm::verify_standard(&secrets, &body, h("webhook-id"), h("webhook-timestamp"), h("webhook-signature"));
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mode = crm.lock().mode;
    // A real CRM refuses what it cannot verify; so does this one (but only after recording it).
    let status = if hub && std { mode.status() } else { 401 };
    let ev = Event {
        at: OffsetDateTime::now_utc(),
        event: json.get("event").and_then(Value::as_str).unwrap_or("?").to_owned(),
        webhook_id: h("webhook-id").map(str::to_owned),
        attempt: h("x-message-router-attempt").map(str::to_owned),
        hub_signature_valid: hub,
        standard_signature_valid: std,
        status_returned: status,
        body: json,
    };
    {
        let mut g = crm.lock();
        g.events.push_front(ev);
        g.events.truncate(KEEP);
    }
    (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), axum::Json(json!({"received": status == 200})))
        .into_response()
}

async fn events_json(State(crm): State<DemoCrm>) -> Response {
    axum::Json(json!({"mode": crm.lock().mode, "events": crm.events()})).into_response()
}

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

async fn set_mode(State(crm): State<DemoCrm>, body: Bytes) -> Response {
    let mode = match form(&body).get("mode").map(String::as_str) {
        Some("fail") => Mode::Fail,
        Some("reject") => Mode::Reject,
        _ => Mode::Accept,
    };
    let mut g = crm.lock();
    g.mode = mode;
    g.last_action = Some(format!("Now answering deliveries with HTTP {}.", mode.status()));
    Redirect::to("/").into_response()
}

async fn reply(State(crm): State<DemoCrm>, body: Bytes) -> Response {
    let f = form(&body);
    let get = |k: &str| f.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let (Some(account_id), Some(recipient_id), Some(text)) = (get("account_id"), get("recipient_id"), get("text"))
    else {
        crm.lock().last_action = Some("A reply needs text.".to_owned());
        return Redirect::to("/").into_response();
    };
    let r = crm
        .http
        .post(format!("{}/api/v1/messages/send", crm.router_url))
        .bearer_auth(&crm.wiring.api_key)
        .json(&json!({"account_id": account_id, "recipient_id": recipient_id, "message": text}))
        .send()
        .await;
    let note = match r {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            if status == 202 {
                format!(
                    "Sent through the router: 202, message {} is pending; watch for message.sent and message.delivered.",
                    v["message_id"].as_str().unwrap_or("?")
                )
            } else {
                format!(
                    "The router answered {status}: {} ({})",
                    v["error"].as_str().unwrap_or("?"),
                    v["message"].as_str().unwrap_or("")
                )
            }
        }
        Err(e) => format!("The router could not be reached: {e}"),
    };
    crm.lock().last_action = Some(note);
    Redirect::to("/").into_response()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn summary(e: &Event) -> String {
    let b = &e.body;
    let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("");
    match e.event.as_str() {
        "message.received" | "message.echo" | "message.edited" => {
            format!("from {}: “{}”", s("sender_id"), s("message"))
        }
        "message.reaction" => format!("{} reacted {} to {}", s("sender_id"), s("emoji"), s("instagram_message_id")),
        "message.sent" | "message.delivered" | "message.read" | "message.failed" => {
            format!("message {} to {}: {}", s("message_id"), s("recipient_id"), s("status"))
        }
        _ => String::new(),
    }
}

async fn page(State(crm): State<DemoCrm>) -> Response {
    let (events, mode, note) = {
        let g = crm.lock();
        (g.events.iter().cloned().collect::<Vec<_>>(), g.mode, g.last_action.clone())
    };
    let tick = |ok: bool| if ok { "✓" } else { "✗" };
    let mut rows = String::new();
    for e in &events {
        let reply = if e.event == "message.received" {
            format!(
                r#"<form method="post" action="/reply" class="reply"><input type="hidden" name="account_id" value="{}"><input type="hidden" name="recipient_id" value="{}"><input name="text" placeholder="Reply to the customer…" maxlength="1000" aria-label="Reply"> <button>Reply</button></form>"#,
                esc(e.body.get("account_id").and_then(Value::as_str).unwrap_or("")),
                esc(e.body.get("sender_id").and_then(Value::as_str).unwrap_or("")),
            )
        } else {
            String::new()
        };
        rows.push_str(&format!(
            r#"<tr><td>{at}</td><td><code>{ev}</code></td><td>{sum}{reply}</td><td title="X-Hub-Signature-256">{hub}</td><td title="Standard Webhooks">{std}</td><td>{status}</td><td><code>{wid}</code> #{att}</td></tr>"#,
            at = esc(&e.at.time().to_string()),
            ev = esc(&e.event),
            sum = esc(&summary(e)),
            hub = tick(e.hub_signature_valid),
            std = tick(e.standard_signature_valid),
            status = e.status_returned,
            wid = esc(e.webhook_id.as_deref().unwrap_or("")),
            att = esc(e.attempt.as_deref().unwrap_or("")),
        ));
    }
    if rows.is_empty() {
        rows = r#"<tr><td colspan="7">Nothing yet. Send a DM from the customer simulator (http://127.0.0.1:10010/).</td></tr>"#.to_owned();
    }
    let button = |m: &str, label: &str, on: bool| {
        format!(
            r#"<button name="mode" value="{m}"{}>{label}</button>"#,
            if on { r#" aria-pressed="true" class="on""# } else { "" }
        )
    };
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo CRM</title><style>body{{font-family:system-ui,sans-serif;margin:20px;line-height:1.4}}table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:6px;text-align:left;vertical-align:top}}.note{{background:#eef6ff;border-left:4px solid #0b5cad;padding:8px 12px}}
button.on{{font-weight:bold;outline:2px solid #0b5cad}}form.reply{{margin-top:6px}}form.reply input{{width:60%}}</style></head><body>
<h1>Demo CRM</h1>
<p>Receives Message Router webhooks at <code>POST /hooks</code> and checks both signatures (✓/✗). Account <code>{account}</code>, merchant key <code>{prefix}…</code>.</p>
{note}
<form method="post" action="/mode">Answer deliveries with: {b1} {b2} {b3}</form>
<table><thead><tr><th>time (UTC)</th><th>event</th><th>what</th><th>hub sig</th><th>std sig</th><th>answered</th><th>webhook-id #attempt</th></tr></thead><tbody>{rows}</tbody></table>
<script>setInterval(function(){{var a=document.activeElement;if(!a||a.tagName!=='INPUT'||!a.value)location.reload()}},3000)</script>
</body></html>"#,
        account = esc(&crm.wiring.account_id),
        prefix = esc(&crm.wiring.api_key.chars().take(16).collect::<String>()),
        note = note.map(|n| format!(r#"<p class="note" role="status">{}</p>"#, esc(&n))).unwrap_or_default(),
        b1 = button("accept", "200 OK", mode == Mode::Accept),
        b2 = button("fail", "500 (broken CRM)", mode == Mode::Fail),
        b3 = button("reject", "401 (refuse)", mode == Mode::Reject),
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html).into_response()
}

/// Everything [`setup`] needs.
#[derive(Debug, Clone)]
pub struct SetupConfig {
    /// e.g. `http://127.0.0.1:10000`.
    pub router_url: String,
    /// The sandbox Graph API (fake-graph), e.g. `http://127.0.0.1:10010`.
    pub sandbox_graph_url: String,
    /// A platform admin key (`.run/admin-key`).
    pub admin_key: String,
    /// The sandbox Instagram account and its username.
    pub ig_id: String,
    pub username: String,
    /// Where this CRM receives webhooks, e.g. `http://127.0.0.1:9999/hooks`.
    pub hooks_url: String,
    /// Where the wiring is kept across restarts.
    pub state_file: std::path::PathBuf,
}

async fn call(req: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
    let r = req.send().await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

/// Wires the sandbox: merchant, CRM test key, sandbox account (fresh sandbox token, this CRM's URL
/// and secret). Reuses the state file's merchant, key and secret when the key still works, so a
/// restart keeps the same account and history.
///
/// # Errors
/// The router or the sandbox refuses (the message says which call).
pub async fn setup(c: &SetupConfig) -> anyhow::Result<Wiring> {
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(15)).build()?;
    let api = |p: &str| format!("{}{p}", c.router_url.trim_end_matches('/'));
    let saved: Option<Wiring> = std::fs::read(&c.state_file).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let saved = match saved {
        Some(w) => {
            let (st, _) = call(http.get(api("/api/v1/accounts")).bearer_auth(&w.api_key)).await?;
            (st == 200).then_some(w)
        }
        None => None,
    };
    let (merchant_id, api_key, webhook_secret) = match saved {
        Some(w) => (w.merchant_id, w.api_key, w.webhook_secret),
        None => {
            let (st, m) = call(
                http.post(api("/api/v1/admin/merchants")).bearer_auth(&c.admin_key).json(&json!({"name": "Demo shop"})),
            )
            .await?;
            anyhow::ensure!(st == 201, "creating the demo merchant: HTTP {st} {m}");
            let merchant_id = m["merchant_id"].as_str().unwrap_or_default().to_owned();
            let (st, k) = call(
                http.post(api(&format!("/api/v1/admin/merchants/{merchant_id}/api-keys")))
                    .bearer_auth(&c.admin_key)
                    .json(&json!({"name": "demo-crm", "environment": "test",
                                  "scopes": ["messages:send", "messages:read", "accounts:read", "accounts:write"]})),
            )
            .await?;
            anyhow::ensure!(st == 201, "creating the demo CRM's key: HTTP {st} {k}");
            let secret = {
                use base64::Engine;
                let mut raw = [0u8; 32];
                for chunk in raw.chunks_mut(16) {
                    chunk.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
                }
                format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(raw))
            };
            (merchant_id, k["key"].as_str().unwrap_or_default().to_owned(), secret)
        }
    };
    // The sandbox forgets its tokens when it restarts: ask for a fresh one every time.
    let (st, t) = call(
        http.post(format!("{}/_fake/accounts", c.sandbox_graph_url.trim_end_matches('/')))
            .json(&json!({"ig_id": c.ig_id, "username": c.username})),
    )
    .await?;
    anyhow::ensure!(st == 200, "asking the sandbox for a token: HTTP {st}");
    let token = t["access_token"].as_str().unwrap_or_default().to_owned();
    let (st, a) = call(http.post(api("/api/v1/accounts")).bearer_auth(&api_key).json(&json!({
            "instagram_account_id": c.ig_id, "username": c.username, "access_token": token,
            "crm_webhook_url": c.hooks_url, "webhook_secret": webhook_secret})))
    .await?;
    let account_id = match st {
        201 => a["account_id"].as_str().unwrap_or_default().to_owned(),
        409 => {
            let (_, list) = call(http.get(api("/api/v1/accounts")).bearer_auth(&api_key)).await?;
            let id = list["data"]
                .as_array()
                .and_then(|l| l.iter().find(|x| x["instagram_account_id"] == json!(c.ig_id)))
                .and_then(|x| x["account_id"].as_str())
                .ok_or_else(|| anyhow::anyhow!("the sandbox account exists but is not listed"))?
                .to_owned();
            let (st, u) = call(
                http.put(api(&format!("/api/v1/accounts/{id}")))
                    .bearer_auth(&api_key)
                    .json(&json!({"access_token": token, "crm_webhook_url": c.hooks_url, "status": "active"})),
            )
            .await?;
            anyhow::ensure!(st == 200, "refreshing the sandbox account: HTTP {st} {u}");
            id
        }
        _ => anyhow::bail!("connecting the sandbox account: HTTP {st} {a}"),
    };
    let wiring = Wiring { merchant_id, api_key, webhook_secret, account_id };
    if let Some(dir) = c.state_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Holds the CRM's API key and signing secret: owner-only.
    let mut f = std::fs::OpenOptions::new();
    std::os::unix::fs::OpenOptionsExt::mode(&mut f, 0o600);
    std::io::Write::write_all(
        &mut f.write(true).create(true).truncate(true).open(&c.state_file)?,
        &serde_json::to_vec_pretty(&wiring)?,
    )?;
    Ok(wiring)
}

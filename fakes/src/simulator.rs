//! The sandbox's customer simulator: play the customer of a sandbox Instagram account.
//!
//! `GET /` of `fake-graph` is a small page ("send a DM as a customer"); its form and
//! `POST /_fake/inbound` (JSON) both end in [`simulate`], which builds the event exactly as Meta
//! shapes it ([`crate::webhooks`]), signs it with the sandbox app secret and POSTs it to the
//! router's webhook. Kinds: a text DM, a read receipt and a reaction (both on the latest message
//! the business sent to that customer, unless `mid` names one) and a postback (a button tap).
//!
//! Development only: it is unauthenticated and signs what it is asked to, which is why the fake
//! holds only the sandbox secret (the router trusts it for sandbox accounts only).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::graph::FakeGraph;

/// The router's webhook on the default development port.
pub const DEFAULT_TARGET: &str = "http://127.0.0.1:10000/webhooks/instagram";

/// One customer event to send.
#[derive(Debug, Clone, Deserialize)]
pub struct Simulate {
    /// Where the router listens, e.g. `http://127.0.0.1:10000/webhooks/instagram`.
    #[serde(default = "default_target")]
    pub target: String,
    /// The sandbox account (recipient).
    pub ig_id: String,
    /// The customer (IGSID, digits).
    pub sender_id: String,
    /// `text` (default), `read`, `reaction` or `postback`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// The DM (`text`), or the button title (`postback`).
    #[serde(default)]
    pub text: Option<String>,
    /// The emoji of a reaction (default ❤).
    #[serde(default)]
    pub emoji: Option<String>,
    /// The payload of a postback.
    #[serde(default)]
    pub payload: Option<String>,
    /// The message a read or reaction refers to (default: the latest one the business sent).
    #[serde(default)]
    pub mid: Option<String>,
}

fn default_target() -> String {
    std::env::var("FAKE_GRAPH_INBOUND_TARGET").unwrap_or_else(|_| DEFAULT_TARGET.to_owned())
}

fn default_kind() -> String {
    "text".to_owned()
}

/// What was sent.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The router's answer (0 when unreachable).
    pub router_status: u16,
    /// The `mid` of the event (the new message's, or the one read / reacted to).
    pub mid: String,
}

/// Builds, signs and posts one customer event.
///
/// # Errors
/// A description of what is missing (unknown kind, no text, nothing to read or react to).
pub async fn simulate(f: &FakeGraph, r: &Simulate) -> Result<Sent, String> {
    let ok_id = |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_digit());
    if !ok_id(&r.ig_id) || !ok_id(&r.sender_id) {
        return Err("ig_id and sender_id must be numeric Instagram ids".into());
    }
    let now = OffsetDateTime::now_utc();
    let new_mid = || format!("m_{}", uuid::Uuid::new_v4().simple());
    let last_sent = || {
        f.sent().into_iter().rev().find(|m| m.ig_id == r.ig_id && m.recipient_id == r.sender_id).map(|m| m.message_id)
    };
    let (event, mid) = match r.kind.as_str() {
        "text" => {
            let text = r.text.as_deref().map(str::trim).filter(|t| !t.is_empty()).ok_or("a DM needs text")?;
            let mid = new_mid();
            f.customer_messaged(&r.ig_id, &r.sender_id, now);
            (crate::webhooks::text_message(&r.ig_id, &r.sender_id, &mid, text, now), mid)
        }
        "read" => {
            let mid = r
                .mid
                .clone()
                .or_else(last_sent)
                .ok_or("nothing to read: the business has not replied to this customer yet")?;
            (crate::webhooks::read(&r.ig_id, &r.sender_id, &mid, now), mid)
        }
        "reaction" => {
            let mid = r
                .mid
                .clone()
                .or_else(last_sent)
                .ok_or("nothing to react to: the business has not replied to this customer yet")?;
            let emoji = r.emoji.as_deref().filter(|e| !e.trim().is_empty()).unwrap_or("\u{2764}");
            (crate::webhooks::reaction(&r.ig_id, &r.sender_id, &mid, "react", Some(emoji), now), mid)
        }
        "postback" => {
            let mid = new_mid();
            let title = r.text.as_deref().filter(|t| !t.trim().is_empty()).unwrap_or("Track my order");
            let payload = r.payload.as_deref().filter(|p| !p.trim().is_empty()).unwrap_or("TRACK_ORDER");
            f.customer_messaged(&r.ig_id, &r.sender_id, now);
            (crate::webhooks::postback(&r.ig_id, &r.sender_id, &mid, title, payload, now), mid)
        }
        other => return Err(format!("unknown kind {other:?}: text, read, reaction or postback")),
    };
    let body = crate::webhooks::envelope(&r.ig_id, vec![event]);
    let bytes = crate::webhooks::to_meta_bytes(&body);
    let sig = f.sign(&bytes);
    let router_status = reqwest::Client::new()
        .post(&r.target)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sig)
        .body(bytes)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .map_or(0, |resp| resp.status().as_u16());
    Ok(Sent { router_status, mid })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn html_page(status: StatusCode, notice: &str, ig_id: &str, sender: &str) -> Response {
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox customer simulator</title>
<style>body{{font-family:system-ui,sans-serif;max-width:640px;margin:30px auto;padding:0 16px;line-height:1.45}}
fieldset{{border:1px solid #ccc;border-radius:6px;margin:0 0 14px}}label{{display:block;margin:6px 0}}input{{font:inherit;padding:5px;width:100%;box-sizing:border-box}}
button{{font:inherit;padding:6px 14px;margin:4px 6px 4px 0}}.notice{{background:#eef8f0;border-left:4px solid #1a7f37;padding:8px 12px}}code{{font-size:90%}}</style></head>
<body><h1>Sandbox customer simulator</h1>
<p>Play a customer of the sandbox Instagram account: each button sends a signed webhook to the router, exactly as Meta would, and the router forwards it to the account's CRM.</p>
{notice}
<form method="post" action="/_fake/simulate">
<fieldset><legend>Who</legend>
<label>Sandbox account (Instagram id) <input name="ig_id" value="{ig}" required pattern="[0-9]+"></label>
<label>Customer (IGSID) <input name="sender_id" value="{sender}" required pattern="[0-9]+"></label></fieldset>
<fieldset><legend>Send a DM</legend>
<label>Text <input name="text" value="Hi! Is the red jacket still available in M?" maxlength="1000"></label>
<button name="kind" value="text">Send DM</button> <button name="kind" value="postback">Tap a button (postback)</button></fieldset>
<fieldset><legend>React to the business's latest reply</legend>
<label>Emoji <input name="emoji" value="&#10084;" maxlength="8"></label>
<button name="kind" value="read">Mark as read</button> <button name="kind" value="reaction">React</button></fieldset>
</form>
<p>Also as JSON: <code>POST /_fake/inbound {{"ig_id","sender_id","kind":"text|read|reaction|postback","text"}}</code>. Target: <code>{target}</code></p>
</body></html>"#,
        notice = notice,
        ig = esc(ig_id),
        sender = esc(sender),
        target = esc(&default_target()),
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body)
        .into_response()
}

fn sandbox_ig(f: &FakeGraph) -> String {
    f.sandbox_account().unwrap_or_else(|| "17841400000000001".to_owned())
}

/// `GET /`: the simulator page.
pub async fn page(State(f): State<FakeGraph>) -> Response {
    html_page(StatusCode::OK, "", &sandbox_ig(&f), "5550001")
}

/// `POST /_fake/simulate` (form): sends the event, shows the result.
pub async fn submit(State(f): State<FakeGraph>, body: axum::body::Bytes) -> Response {
    let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.get(k).cloned().filter(|v| !v.is_empty());
    let kind = get("kind").unwrap_or_else(default_kind);
    let req = Simulate {
        target: default_target(),
        ig_id: get("ig_id").unwrap_or_else(|| sandbox_ig(&f)),
        sender_id: get("sender_id").unwrap_or_default(),
        text: if kind == "postback" { None } else { get("text") },
        emoji: get("emoji"),
        payload: None,
        mid: None,
        kind,
    };
    match simulate(&f, &req).await {
        Ok(sent) => {
            let ok = sent.router_status == 200;
            let note = format!(
                r#"<p class="notice" role="status">{} sent ({}); the router answered {}.</p>"#,
                esc(&req.kind),
                esc(&sent.mid),
                if sent.router_status == 0 {
                    "nothing (is it running?)".to_owned()
                } else {
                    sent.router_status.to_string()
                }
            );
            html_page(if ok { StatusCode::OK } else { StatusCode::BAD_GATEWAY }, &note, &req.ig_id, &req.sender_id)
        }
        Err(e) => html_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!(r#"<p class="notice" role="alert">{}</p>"#, esc(&e)),
            &req.ig_id,
            &req.sender_id,
        ),
    }
}

//! Faithful fakes of Message Router's HTTP peers, served on loopback over real HTTP.
//!
//! - [`graph`]: Meta's Instagram Graph API (send, me, OAuth, refresh, usage headers, errors,
//!   failure injection, request log). Also the `fake-graph` binary: the local sandbox.
//! - [`crm`]: a merchant CRM receiving signed webhooks, verifying them independently.
//! - [`media`]: a media host (chosen Content-Type and size; HEAD refused, 404/500, slow,
//!   redirects on demand) for the worker's pre-send attachment check.
//! - [`simulator`]: the sandbox's "send a DM as a customer" page (`GET /` of `fake-graph`):
//!   DMs, read receipts, reactions and postbacks, signed and posted to the router.
//! - [`demo_crm`]: the demo CRM of the local sandbox (`demo-crm` binary, 127.0.0.1:9999).
//! - [`webhooks`]: builders for Meta's webhook payloads (every event kind) and Meta's
//!   escaped-unicode serialisation.

pub mod crm;
pub mod demo_crm;
pub mod graph;
pub mod media;
pub mod simulator;
pub mod webhooks;

/// `sha256=<hex HMAC-SHA256(key, body)>` (Meta's `X-Hub-Signature-256`).
#[must_use]
pub fn sign_sha256(key: &[u8], body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("any key length");
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

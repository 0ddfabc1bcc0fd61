//! `fake-graph`: the fake Instagram Graph API as a standalone sandbox for local use.
//!
//! Env: `FAKE_GRAPH_PORT` (default 10010), `FAKE_GRAPH_APP_SECRET` (or `SANDBOX_IG_APP_SECRET`:
//! the sandbox's own app secret, which signs the webhooks it sends and checks sandbox OAuth
//! exchanges), `FAKE_GRAPH_ACCOUNT_ID` / `FAKE_GRAPH_USERNAME` (a
//! pre-registered account whose token is printed at start). Control plane: `POST /_fake/accounts`
//! `{ig_id, username}` → `{access_token}`; `GET /_fake/sent`; `GET /_fake/requests`;
//! `POST /_fake/script` `{endpoint, response, times}`; `POST /_fake/inbound`
//! `{target?, ig_id, sender_id, kind?, text?, emoji?, payload?, mid?}` sends a signed customer event
//! (a DM, a read receipt, a reaction or a postback) to the router; `GET /` is the same as a page
//! (the customer simulator). `FAKE_GRAPH_INBOUND_TARGET` is the default target
//! (`http://127.0.0.1:10000/webhooks/instagram`).
//!
//! The inbound simulator is unauthenticated and signs whatever it is asked to, so the secret it
//! holds must vouch for sandbox accounts only: the fake refuses to start with the live
//! `IG_APP_SECRET` (never read as a fallback, and refused when it equals the secret given).

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_target(false).compact().init();
    let port: u16 = std::env::var("FAKE_GRAPH_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(10010);
    let secret = sandbox_secret()?;
    let host: [u8; 4] = if std::env::var("FAKE_GRAPH_BIND_ALL").is_ok() { [0, 0, 0, 0] } else { [127, 0, 0, 1] };
    let fake = router_fakes::graph::FakeGraph::start_on(SocketAddr::from((host, port)), &secret).await?;
    let ig_id = std::env::var("FAKE_GRAPH_ACCOUNT_ID").unwrap_or_else(|_| "17841400000000001".to_owned());
    let username = std::env::var("FAKE_GRAPH_USERNAME").unwrap_or_else(|_| "sandbox_shop".to_owned());
    let token = fake.add_account(&ig_id, &username);
    fake.set_sandbox_account(&ig_id, &username);
    tracing::info!(url = %fake.url(), "fake Graph API listening");
    println!("fake-graph: account {ig_id} (@{username}) access token: {token}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// The sandbox app secret; never the live `IG_APP_SECRET`.
fn sandbox_secret() -> anyhow::Result<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let secret = var("FAKE_GRAPH_APP_SECRET").or_else(|| var("SANDBOX_IG_APP_SECRET"));
    let secret = secret.ok_or_else(|| {
        anyhow::anyhow!("set FAKE_GRAPH_APP_SECRET (the router's SANDBOX_IG_APP_SECRET, never its IG_APP_SECRET)")
    })?;
    anyhow::ensure!(
        var("IG_APP_SECRET").as_deref() != Some(secret.as_str()),
        "the sandbox secret equals IG_APP_SECRET; the sandbox must never sign with the live app secret"
    );
    Ok(secret)
}

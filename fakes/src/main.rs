//! `fake-graph`: the fake Instagram Graph API as a standalone sandbox for local use.
//!
//! Env: `FAKE_GRAPH_PORT` (default 10010), `FAKE_GRAPH_APP_SECRET` (signs the webhooks it sends;
//! set it to the router's `IG_APP_SECRET`), `FAKE_GRAPH_ACCOUNT_ID` / `FAKE_GRAPH_USERNAME` (a
//! pre-registered account whose token is printed at start). Control plane: `POST /_fake/accounts`
//! `{ig_id, username}` → `{access_token}`; `GET /_fake/sent`; `GET /_fake/requests`;
//! `POST /_fake/script` `{endpoint, response, times}`; `POST /_fake/inbound`
//! `{target, ig_id, sender_id, text}` sends a signed customer DM to the router.

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_target(false).compact().init();
    let port: u16 = std::env::var("FAKE_GRAPH_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(10010);
    let secret = std::env::var("FAKE_GRAPH_APP_SECRET").or_else(|_| std::env::var("IG_APP_SECRET")).unwrap_or_default();
    anyhow::ensure!(!secret.is_empty(), "set FAKE_GRAPH_APP_SECRET (the router's IG_APP_SECRET)");
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

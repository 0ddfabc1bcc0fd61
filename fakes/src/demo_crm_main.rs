//! `demo-crm`: the local sandbox's demo CRM (see `router_fakes::demo_crm`).
//!
//! Env: `DEMO_CRM_PORT` (9999), `ROUTER_URL` (`http://127.0.0.1:10000`), `SANDBOX_GRAPH_URL`
//! (`http://127.0.0.1:10010`), `ADMIN_KEY_FILE` (`.run/admin-key`), `DEMO_CRM_STATE`
//! (`.run/demo-crm.json`), `DEMO_IG_ID` (`17841400000000001`), `DEMO_IG_USERNAME`
//! (`sandbox_shop`). Listens on 127.0.0.1 only. Prints the wiring's non-secret parts.

use std::net::SocketAddr;

fn var(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_target(false).compact().init();
    let port: u16 = var("DEMO_CRM_PORT", "9999").parse()?;
    let router_url = var("ROUTER_URL", "http://127.0.0.1:10000");
    let admin_key_file = var("ADMIN_KEY_FILE", ".run/admin-key");
    let admin_key = std::fs::read_to_string(&admin_key_file)
        .map_err(|e| anyhow::anyhow!("cannot read the platform admin key from {admin_key_file}: {e}"))?
        .trim()
        .to_owned();
    // Bind first: a second copy fails here, before touching the router.
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let config = router_fakes::demo_crm::SetupConfig {
        router_url: router_url.clone(),
        sandbox_graph_url: var("SANDBOX_GRAPH_URL", "http://127.0.0.1:10010"),
        admin_key,
        ig_id: var("DEMO_IG_ID", "17841400000000001"),
        username: var("DEMO_IG_USERNAME", "sandbox_shop"),
        hooks_url: format!("http://127.0.0.1:{port}/hooks"),
        state_file: var("DEMO_CRM_STATE", ".run/demo-crm.json").into(),
    };
    let wiring = router_fakes::demo_crm::setup(&config).await?;
    println!(
        "demo-crm: http://127.0.0.1:{port}/ (account {}, merchant {}, key in {})",
        wiring.account_id,
        wiring.merchant_id,
        config.state_file.display()
    );
    let crm = router_fakes::demo_crm::DemoCrm::new(&router_url, wiring);
    axum::serve(listener, crm.router())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

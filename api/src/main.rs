//! `router-api` binary: see `router_api::cli` for the subcommands.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use router_api::cli::{Cli, Command};
use router_core::bootstrap;
use router_core::config::Config;
use router_core::crypto::{KeyEnvironment, generate_api_key};
use router_core::telemetry::Component;
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if matches!(command, Command::Openapi) {
        // No configuration needed: client generation runs this without an environment.
        let doc = router_api::openapi::document();
        println!("{}", serde_json::to_string_pretty(&doc).expect("serialisable spec"));
        return ExitCode::SUCCESS;
    }
    bootstrap::run(Component::Api, move |config: Config| async move {
        match command {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(&config).await,
            Command::CreateAdminKey { name } => create_admin_key(&config, &name).await,
            Command::RotateKeys { batch_size } => rotate_keys(&config, batch_size).await,
            Command::Openapi => unreachable!("handled above"),
        }
    })
    .await
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let addr = SocketAddr::from((config.bind_address, config.api().port));
    let state = router_api::build_state(config).await?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot bind {addr}"))?;
    tracing::info!(%addr, "router-api listening");
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        router_core::ops::shutdown_signal().await;
        tracing::info!("shutdown signal received; draining requests");
        c.cancel();
    });
    router_api::serve(state, listener, cancel).await?;
    tracing::info!("router-api stopped cleanly");
    Ok(())
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let pool =
        router_core::db::connect_owner_pool(&config.database_url, 2).await.context("cannot connect to Postgres")?;
    router_core::MIGRATOR.run(&pool).await.context("migration failed")?;
    println!("migrations applied");
    // A database written with other secrets (another clone's .env) fails here, with what to do,
    // rather than later on every token and key.
    let mut conn = pool.acquire().await?;
    match router_core::db::deployment::check_secrets(&mut conn, &config.api().api_key_salt, &config.keyring).await? {
        router_core::db::deployment::SecretsCheck::Recorded => println!("secrets recorded for this database"),
        router_core::db::deployment::SecretsCheck::Matches => println!("secrets match this database"),
        router_core::db::deployment::SecretsCheck::Resealed => {
            println!("secrets match this database (check re-sealed with the current key)")
        }
    }
    Ok(())
}

async fn rotate_keys(config: &Config, batch: i64) -> anyhow::Result<()> {
    anyhow::ensure!(batch > 0, "--batch-size must be positive");
    let pool =
        router_core::db::connect_owner_pool(&config.database_url, 2).await.context("cannot connect to Postgres")?;
    let report = router_core::lifecycle::rotate_keys(&pool, &config.keyring, batch, None).await?;
    println!("re-encrypted with key version {}:", config.keyring.current_kver());
    for (column, n) in &report.current {
        let rotated = report.rotated.get(column).copied().unwrap_or(0);
        println!("  {column}: {rotated} rotated, {n} now under the current key");
    }
    for (column, id, why) in &report.failed {
        println!("  FAILED {column} row {id}: {why}");
    }
    anyhow::ensure!(
        report.failed.is_empty(),
        "{} value(s) could not be decrypted; add their key to ENCRYPTION_KEYS_PREVIOUS and run again",
        report.failed.len()
    );
    Ok(())
}

async fn create_admin_key(config: &Config, name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(!name.trim().is_empty(), "--name must not be empty");
    let pool =
        router_core::db::connect_owner_pool(&config.database_url, 2).await.context("cannot connect to Postgres")?;
    let key = generate_api_key(KeyEnvironment::Live, &config.api().api_key_salt);
    let scopes = vec!["admin".to_owned()];
    let mut conn = pool.acquire().await?;
    router_core::db::api_keys::insert_api_key(
        &mut conn,
        &router_core::db::api_keys::NewKey {
            api_key_id: uuid::Uuid::now_v7(),
            merchant_id: None,
            name: name.trim(),
            key_hash: &key.hash,
            key_prefix: &key.prefix,
            environment: "live",
            scopes: &scopes,
            account_ids: None,
            expires_at: None,
        },
    )
    .await
    .context("cannot store the key (did you run `router-api migrate`?)")?;
    // The one and only time the key is shown.
    println!("{}", key.key.expose_secret());
    eprintln!("Platform admin key {:?} created. Store it now: it cannot be shown again.", name.trim());
    Ok(())
}

//! Subcommands of the `router-api` binary (DESIGN §2).

use clap::{Parser, Subcommand};

/// Message Router API server and administration commands.
#[derive(Debug, Parser)]
#[command(name = "router-api", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the REST API on PORT (default).
    Serve,
    /// Apply database migrations (run as the owner role, before starting new code).
    Migrate,
    /// Create a platform admin API key and print it once.
    CreateAdminKey {
        /// A label for the key.
        #[arg(long)]
        name: String,
    },
    /// Print the OpenAPI document (JSON) to stdout.
    Openapi,
    /// Re-encrypt every stored secret with the current ENCRYPTION_KEY (older keys must be listed in
    /// ENCRYPTION_KEYS_PREVIOUS). Resumable: each batch commits; run again after an interruption.
    RotateKeys {
        /// Rows per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: i64,
    },
}

//! Test-only helpers shared by every crate's tests (a dev-dependency; production code never links
//! it).
//!
//! # Layout
//! - [`create_database`] / [`TestDb`]: the one test-database creator (a fresh, migrated
//!   `rt_<unix>_<random>` database; old ones are swept).
//! - [`process`]: starting the binaries with an exact environment, waiting for their ops
//!   endpoints, SIGTERM, and [`process::OpsBinary`], the parametrised start-up tests the worker
//!   and the scheduler share.

pub mod process;

use std::time::Duration;

use sqlx::{Connection, PgPool};
use uuid::Uuid;

/// Databases of earlier runs older than this are removed when a new one is created (a failed
/// test keeps its database for debugging until then).
const KEEP_FAILED_FOR: Duration = Duration::from_secs(7200);

/// The server tests create their databases on (`TEST_DATABASE_URL`, `DATABASE_URL`, or the local
/// default); must allow `CREATE DATABASE`.
#[must_use]
pub fn test_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The Redis tests use (`TEST_REDIS_URL`, `REDIS_URL`, or the local default).
#[must_use]
pub fn test_redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .or_else(|_| std::env::var("REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// `url` with its database replaced by `db`.
///
/// # Panics
/// When `url` is not a URL.
#[must_use]
pub fn with_database(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).expect("valid TEST_DATABASE_URL");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

/// Creates and migrates a database named `rt_<unix seconds>_<random>`, after removing those of
/// earlier runs older than two hours. Returns `(name, url)`.
///
/// # Panics
/// When Postgres is unreachable or refuses.
pub async fn create_database() -> (String, String) {
    let admin = test_database_url();
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect TEST_DATABASE_URL (is Postgres running?)");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let old: Vec<String> = sqlx::query_scalar("select datname from pg_database where datname like 'rt\\_%'")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
    for db in old {
        let ts = db.split('_').nth(1).and_then(|t| t.parse::<i64>().ok()).unwrap_or(now);
        if now - ts > KEEP_FAILED_FOR.as_secs() as i64 {
            let _ = sqlx::query(&format!("drop database if exists \"{db}\" with (force)")).execute(&mut conn).await;
        }
    }
    let name = format!("rt_{now}_{}", &Uuid::new_v4().simple().to_string()[..12]);
    sqlx::query(&format!("create database \"{name}\"")).execute(&mut conn).await.expect("create test database");
    let url = with_database(&admin, &name);
    let pool = PgPool::connect(&url).await.expect("connect test database");
    router_core::MIGRATOR.run(&pool).await.expect("migrations apply");
    pool.close().await;
    (name, url)
}

/// A fresh, migrated database with a pool on it; dropped when the owning test passes, kept for
/// debugging when it fails.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    /// See [`create_database`].
    ///
    /// # Panics
    /// When Postgres is unreachable or refuses.
    pub async fn create() -> Self {
        let (name, url) = create_database().await;
        let pool =
            sqlx::postgres::PgPoolOptions::new().max_connections(10).connect(&url).await.expect("connect test db");
        Self { name, url, pool }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test database kept for debugging: {}", self.name);
            return;
        }
        let name = self.name.clone();
        let admin = test_database_url();
        // Drop from a plain thread: the test's runtime is shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ =
                        sqlx::query(&format!("drop database if exists \"{name}\" with (force)")).execute(&mut c).await;
                }
            });
        })
        .join();
    }
}

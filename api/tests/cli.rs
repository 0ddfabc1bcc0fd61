//! Process-level tests of the `router-api` binary.

use std::time::Duration;

use router_testing::process::{dev_env, free_port, spawn, terminate, wait_http_ok};
use router_testing::test_database_url;

const BIN: &str = env!("CARGO_BIN_EXE_router-api");

#[test]
fn missing_and_malformed_variables_exit_non_zero_naming_each_one() {
    let mut env = dev_env(&test_database_url());
    env.remove("DATABASE_URL");
    env.remove("API_KEY_SALT");
    env.insert("PORT", "not-a-port".into());
    let out = spawn(BIN, &["serve"], &env).wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for var in ["DATABASE_URL", "API_KEY_SALT", "PORT"] {
        assert!(err.lines().any(|l| l.trim_start().starts_with(&format!("{var}:"))), "{var} not named in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    // Secrets that were set are never printed.
    assert!(!err.contains("process-test-app-secret"));
}

#[test]
fn production_refuses_default_secrets_and_plain_http() {
    let mut env = dev_env(&test_database_url());
    env.insert("ROUTER_ENV", "production".into());
    env.insert("ENCRYPTION_KEY", "1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into());
    let out = spawn(BIN, &["serve"], &env).wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for var in ["REDIS_URL", "API_BASE_URL", "ENCRYPTION_KEY", "API_KEY_SALT", "IG_APP_SECRET", "META_VERIFY_TOKEN"] {
        let lines = err.lines().filter(|l| l.trim_start().starts_with(&format!("{var}:"))).count();
        assert_eq!(lines, 1, "{var} must be named on exactly one line:\n{err}");
    }
}

#[test]
fn openapi_subcommand_prints_the_spec_without_configuration() {
    let out = spawn(BIN, &["openapi"], &Default::default()).wait_with_output().unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["paths"]["/api/v1/accounts"].is_object());
}

#[test]
fn serve_starts_answers_health_and_stops_cleanly_on_sigterm() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(router_testing::create_database()).1;
    let mut env = dev_env(&db);
    let port = free_port();
    env.insert("PORT", port.to_string());
    let mut child = spawn(BIN, &["serve"], &env);
    assert!(wait_http_ok(port, "/healthz", Duration::from_secs(20)), "api did not come up");
    assert!(wait_http_ok(port, "/readyz", Duration::from_secs(5)));
    let status = terminate(&mut child, Duration::from_secs(10)).expect("exited after SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn serve_fails_fast_when_redis_is_unreachable() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(router_testing::create_database()).1;
    let mut env = dev_env(&db);
    env.insert("REDIS_URL", format!("redis://127.0.0.1:{}", free_port()));
    env.insert("PORT", free_port().to_string());
    let started = std::time::Instant::now();
    let out = spawn(BIN, &["serve"], &env).wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(15));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Redis is required"), "{err}");
}

#[test]
fn create_admin_key_prints_a_working_key_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(router_testing::create_database()).1;
    let env = dev_env(&db);
    let out = spawn(BIN, &["create-admin-key", "--name", "ops"], &env).wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("router_live_") && key.len() == 12 + 43, "{key}");
    // Stored only as its hash.
    let stored: (Vec<u8>, Vec<String>) = rt.block_on(async {
        let pool = sqlx::PgPool::connect(&db).await.unwrap();
        sqlx::query_as("select key_hash, scopes from api_keys where name = 'ops'").fetch_one(&pool).await.unwrap()
    });
    assert_eq!(stored.1, ["admin"]);
    let salt = secrecy::SecretString::from(env["API_KEY_SALT"].clone());
    assert_eq!(stored.0, router_core::crypto::hash_api_key(&salt, &key).to_vec());
}

/// A loopback stand-in for Sentry's ingestion endpoint: records every request body.
fn fake_sentry() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            // Read headers, then the body by Content-Length.
            loop {
                let n = stream.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            s.lock().unwrap().push(String::from_utf8_lossy(&buf).to_string());
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
        }
    });
    (port, seen)
}

#[test]
fn errors_are_reported_to_sentry_when_a_dsn_is_set() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(router_testing::create_database()).1;
    let (sentry_port, seen) = fake_sentry();
    let mut env = dev_env(&db);
    env.insert("SENTRY_DSN", format!("http://publickey@127.0.0.1:{sentry_port}/42"));
    env.insert("REDIS_URL", format!("redis://127.0.0.1:{}", free_port()));
    env.insert("PORT", free_port().to_string());
    let out = spawn(BIN, &["serve"], &env).wait_with_output().unwrap();
    assert!(!out.status.success());
    let got = seen.lock().unwrap().clone();
    let envelope =
        got.iter().find(|r| r.starts_with("POST /api/42/envelope/")).unwrap_or_else(|| panic!("no envelope: {got:?}"));
    assert!(envelope.contains("router-api failed"), "{envelope}");
    assert!(envelope.contains("publickey"), "authenticated with the DSN's key");
    // A malformed DSN is a configuration error.
    env.insert("SENTRY_DSN", "not a dsn".into());
    let out = spawn(BIN, &["serve"], &env).wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("SENTRY_DSN:"));
}

/// Two clones sharing one database name, each with its own generated secrets: the second one's
/// `migrate` refuses, naming the secret and what to do, instead of failing later on every token
/// and key. The first configuration keeps working.
#[test]
fn migrate_refuses_a_database_written_with_other_secrets() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(router_testing::create_database()).1;
    let env = dev_env(&db);
    let run = |env: &std::collections::HashMap<&'static str, String>| {
        let out = spawn(BIN, &["migrate"], env).wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run(&env);
    assert!(ok && out.contains("secrets recorded for this database"), "{out}");
    let (ok, out) = run(&env);
    assert!(ok && out.contains("secrets match this database"), "{out}");

    let mut other_salt = env.clone();
    other_salt.insert("API_KEY_SALT", "another-clones-salt-9876543210".into());
    let (ok, out) = run(&other_salt);
    assert!(!ok && out.contains("API_KEY_SALT is not the one this database was written with"), "{out}");
    assert!(out.contains("DB_NAME="), "says what to do: {out}");

    let mut other_key = env.clone();
    other_key.insert("ENCRYPTION_KEY", format!("1:{}", router_core::crypto::b64(&[7u8; 32])));
    let (ok, out) = run(&other_key);
    assert!(!ok && out.contains("ENCRYPTION_KEY / ENCRYPTION_KEYS_PREVIOUS cannot read"), "{out}");

    // A rotation is not a mismatch: the old key still readable as previous, the check re-sealed.
    let mut rotated = env.clone();
    rotated.insert("ENCRYPTION_KEY", format!("2:{}", router_core::crypto::b64(&[7u8; 32])));
    rotated.insert("ENCRYPTION_KEYS_PREVIOUS", env["ENCRYPTION_KEY"].clone());
    let (ok, out) = run(&rotated);
    assert!(ok && out.contains("re-sealed"), "{out}");
    rotated.remove("ENCRYPTION_KEYS_PREVIOUS");
    let (ok, out) = run(&rotated);
    assert!(ok && out.contains("secrets match this database"), "after dropping the old key: {out}");
}

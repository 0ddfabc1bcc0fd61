//! Process-level tests of the `router-worker` binary.

use std::time::Duration;

use router_core::testing::{
    create_test_database, dev_env, free_port, spawn, terminate, test_database_url, wait_http_ok,
};

const BIN: &str = env!("CARGO_BIN_EXE_router-worker");

#[test]
fn a_missing_database_url_exits_non_zero_naming_it() {
    let mut env = dev_env(&test_database_url());
    env.remove("DATABASE_URL");
    let out = spawn(BIN, &[], &env).wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DATABASE_URL: is required"), "{err}");
}

#[test]
fn redis_unreachable_at_start_fails_fast() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(create_test_database());
    let mut env = dev_env(&db);
    env.insert("REDIS_URL", format!("redis://127.0.0.1:{}", free_port()));
    env.insert("WORKER_METRICS_PORT", free_port().to_string());
    let started = std::time::Instant::now();
    let out = spawn(BIN, &[], &env).wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(15));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Redis"), "{err}");
}

#[test]
fn starts_serves_health_ready_metrics_and_stops_cleanly_on_sigterm() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(create_test_database());
    let mut env = dev_env(&db);
    let port = free_port();
    env.insert("WORKER_METRICS_PORT", port.to_string());
    let mut child = spawn(BIN, &[], &env);
    assert!(wait_http_ok(port, "/healthz", Duration::from_secs(20)), "did not come up");
    assert!(wait_http_ok(port, "/readyz", Duration::from_secs(5)));
    assert!(wait_http_ok(port, "/metrics", Duration::from_secs(5)));
    let status = terminate(&mut child, Duration::from_secs(15)).expect("exited after SIGTERM");
    assert!(status.success(), "{status:?}");
}

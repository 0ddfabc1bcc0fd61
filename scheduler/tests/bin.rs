//! Process-level tests of the `router-scheduler` binary: the start-up behaviour it shares with the
//! worker (`router_testing::process::OpsBinary`).

use router_testing::process::OpsBinary;

const SCHEDULER: OpsBinary =
    OpsBinary { bin: env!("CARGO_BIN_EXE_router-scheduler"), port_var: "SCHEDULER_METRICS_PORT" };

#[test]
fn a_missing_database_url_exits_non_zero_naming_it() {
    SCHEDULER.exits_naming_a_missing_database_url();
}

#[test]
fn redis_unreachable_at_start_fails_fast() {
    SCHEDULER.fails_fast_without_redis();
}

#[test]
fn starts_serves_health_ready_metrics_and_stops_cleanly_on_sigterm() {
    SCHEDULER.serves_ops_endpoints_and_stops_on_sigterm();
}

/// Configuration is read in sections: `META_VERIFY_TOKEN` and the other API variables are not
/// this binary's to require.
#[test]
fn starts_without_the_api_only_variables() {
    SCHEDULER.starts_without_the_api_variables();
}

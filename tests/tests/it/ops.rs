//! Operations contract: configuration file, dashboards and alerts vs exported metrics, logs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use router_core::config::ENV_VARS;
use router_tests::TestApp;
use serde_json::Value;
use time::OffsetDateTime;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn env_example_lists_every_variable_the_code_reads_and_nothing_else() {
    let example = read(".env.example");
    let listed: BTreeSet<String> = example
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .filter(|k| !k.is_empty())
        .collect();
    let compose_only: BTreeSet<String> = example
        .lines()
        .find_map(|l| l.strip_prefix("# compose-only:"))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let known: BTreeSet<String> = ENV_VARS.iter().map(|s| (*s).to_owned()).collect();
    let missing: Vec<_> = known.difference(&listed).collect();
    assert!(missing.is_empty(), ".env.example lacks {missing:?}");
    let extra: Vec<_> = listed.difference(&known).filter(|k| !compose_only.contains(*k)).collect();
    assert!(extra.is_empty(), ".env.example lists variables the code does not read: {extra:?}");

    // No production crate reads an environment variable outside the validated configuration.
    let mut files = Vec::new();
    for krate in ["core/src", "api/src", "worker/src", "scheduler/src"] {
        rust_sources(&root().join(krate), &mut files);
    }
    let re_like = |src: &str| -> Vec<String> {
        let mut found = Vec::new();
        for pat in ["env::var(\"", "env::var_os(\"", "env!(\""] {
            let mut rest = src;
            while let Some(i) = rest.find(pat) {
                rest = &rest[i + pat.len()..];
                if let Some(end) = rest.find('"') {
                    found.push(rest[..end].to_owned());
                }
            }
        }
        found
    };
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        for var in re_like(&src) {
            let allowed = known.contains(&var)
                || var.starts_with("CARGO_")
                || (f.ends_with("testing.rs")
                    && (var == "TEST_DATABASE_URL" || var == "TEST_REDIS_URL" || var == "PATH"));
            assert!(allowed, "{} reads {var}, which is not in ENV_VARS / .env.example", f.display());
        }
    }
}

#[test]
fn one_port_everywhere() {
    assert!(read(".env.example").lines().any(|l| l == "PORT=10000"));
    assert!(read("Dockerfile").contains("EXPOSE 10000"));
    assert!(read("deploy/nginx/nginx.conf").contains("api:10000"));
    assert!(read("docker-compose.yml").contains("PORT: \"10000\""));
    assert_eq!(
        router_core::config::Config::from_lookup(&|k| match k {
            "DATABASE_URL" => Some("postgres://x@127.0.0.1/x".into()),
            "REDIS_URL" => Some("redis://127.0.0.1".into()),
            "ENCRYPTION_KEY" => Some(format!("1:{}", router_core::crypto::b64(&[1; 32]))),
            "API_KEY_SALT" | "META_APP_ID" | "IG_APP_SECRET" | "META_VERIFY_TOKEN" => Some("x".into()),
            "API_BASE_URL" => Some("http://localhost:10000".into()),
            _ => None,
        })
        .unwrap()
        .port,
        10000
    );
}

/// `router_…` identifiers in a PromQL-bearing text, histogram suffixes folded to the family.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("router_") {
        let start = i + pos;
        let prev_ok = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if prev_ok {
            let mut name = text[start..end].to_owned();
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(base) = name.strip_suffix(suffix)
                    && base.ends_with("_seconds")
                {
                    name = base.to_owned();
                }
            }
            out.insert(name);
        }
        i = end.max(start + 1);
    }
    out
}

#[tokio::test]
async fn dashboards_and_alerts_query_only_metrics_the_code_exports() {
    let app = TestApp::spawn().await;
    // A scenario that touches every subsystem, so the live registry has their metrics.
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _) =
        app.connect_account(&key, "17841400000000042", "acme", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").await;
    let account_id = account["account_id"].as_str().unwrap();
    let ig = "17841400000000042";
    let inbound = router_tests::router_fakes::webhooks::envelope(
        ig,
        vec![router_tests::router_fakes::webhooks::text_message(
            ig,
            "1234567890",
            "m1",
            "hi",
            OffsetDateTime::now_utc(),
        )],
    );
    app.post_meta(&inbound).await;
    app.post_meta_raw(b"{}".to_vec(), Some("sha256=00")).await;
    app.get("/api/v1/accounts", "router_live_nope").await;
    app.send_text(&key, account_id, "1234567890", "hello").await;
    app.sender().run_until_idle().await.unwrap();
    app.deliverer().run_until_idle().await.unwrap();
    router_scheduler::gauges::refresh(&app.db).await.unwrap();
    let live = metric_names(&app.state.metrics.render());

    let mut referenced = BTreeSet::new();
    for f in ["grafana/dashboards/traffic.json", "grafana/dashboards/queue.json"] {
        let dash: Value = serde_json::from_str(&read(f)).unwrap();
        let mut exprs = Vec::new();
        collect_exprs(&dash, &mut exprs);
        assert!(!exprs.is_empty(), "{f} has no queries");
        for e in exprs {
            referenced.extend(metric_names(&e));
        }
    }
    referenced.extend(metric_names(&read("deploy/prometheus/alerts.yml")));
    assert!(referenced.len() >= 15, "{referenced:?}");

    // Every referenced metric is exported by the code: either seen live in this scenario, or
    // described in telemetry.rs *and* emitted somewhere in the source.
    let mut source = String::new();
    let mut files = Vec::new();
    for krate in ["core/src", "api/src", "worker/src", "scheduler/src"] {
        rust_sources(&root().join(krate), &mut files);
    }
    for f in files.iter().filter(|f| !f.ends_with("telemetry.rs")) {
        source.push_str(&std::fs::read_to_string(f).unwrap());
    }
    for name in &referenced {
        let emitted = source.contains(&format!("\"{name}\""));
        assert!(live.contains(name) || emitted, "{name} is queried by a dashboard or alert but never exported");
    }
    // The core of the scenario really shows up live.
    for name in [
        "router_http_requests_total",
        "router_messages_accepted_total",
        "router_webhook_deliveries_total",
        "router_queue_depth",
        "router_dlq_size",
        "router_inbound_events_total",
        "router_inbound_signature_failures_total",
        "router_instagram_api_calls_total",
    ] {
        assert!(live.contains(name), "{name} not exported in the scenario");
    }
}

fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "expr"
                    && let Some(s) = x.as_str()
                {
                    out.push(s.to_owned());
                }
                collect_exprs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_exprs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_log_line_of_a_request_carries_its_correlation_id() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    app.connect_account(&key, "17841400000000042", "acme", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").await;
    let ig = "17841400000000042";
    let body = router_tests::router_fakes::webhooks::envelope(
        ig,
        vec![router_tests::router_fakes::webhooks::text_message(
            ig,
            "1234567890",
            "m1",
            "hi",
            OffsetDateTime::now_utc(),
        )],
    );
    let bytes = router_tests::router_fakes::webhooks::to_meta_bytes(&body);
    let sig = router_tests::router_fakes::sign_sha256(router_tests::APP_SECRET.as_bytes(), &bytes);
    let r = app
        .client
        .post(format!("{}/webhooks/instagram", app.base))
        .header("x-request-id", "corr-7f3a")
        .header("x-hub-signature-256", sig)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "corr-7f3a");
    let logs = router_tests::captured_logs();
    let handler_line = logs.lines().find(|l| l.contains("Instagram webhook stored")).expect("the handler logged");
    let line: Value = serde_json::from_str(handler_line).expect("JSON log line");
    let spans = line["spans"].as_array().expect("span list");
    assert!(spans.iter().any(|s| s["request_id"] == "corr-7f3a"), "{handler_line}");
    // And every line logged inside that request does (this process made only this one).
    let mut inside = 0;
    for l in logs.lines() {
        let Ok(v) = serde_json::from_str::<Value>(l) else { continue };
        let spans = v["spans"].as_array().cloned().unwrap_or_default();
        if spans.iter().any(|s| s["path"] == "/webhooks/instagram") {
            inside += 1;
            assert!(spans.iter().any(|s| s["request_id"] == "corr-7f3a"), "{l}");
        }
    }
    assert!(inside >= 1);
}

#[test]
fn the_dockerfile_copies_every_workspace_member() {
    // No Docker engine runs in CI: this guards the dependency-cache layer, which must know every
    // member's manifest or `cargo build` fails inside the image.
    let manifest = read("Cargo.toml");
    let members_line = manifest.lines().find(|l| l.starts_with("members")).unwrap();
    let dockerfile = read("Dockerfile");
    for member in members_line.split('"').skip(1).step_by(2) {
        assert!(
            dockerfile.contains(&format!("COPY {member}/Cargo.toml {member}/Cargo.toml")),
            "Dockerfile lacks {member}/Cargo.toml"
        );
        assert!(dockerfile.contains(&format!("COPY {member} {member}")), "Dockerfile lacks the {member} sources");
    }
    assert!(dockerfile.contains("USER") && dockerfile.contains("HEALTHCHECK"), "non-root user and healthcheck");
}

//! Hostile-input tests: API input and operator safety (see docs/SECURITY.md).
//!
//! NUL characters in any JSON field, query or path; unbounded metric labels; the sandbox's own app
//! secret; the API's database login role; `SECURITY DEFINER` search paths; open redirects.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use futures::future::join_all;
use reqwest::Method;
use router_tests::router_fakes::graph::FakeGraph;
use router_tests::{Resp, SANDBOX_APP_SECRET, TestApp, TestDb};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const CUSTOMER: &str = "9000000000000001";

/// Asserts a 422 `validation_failed` whose details name `field`.
fn assert_nul_refused(r: &Resp, field: &str) {
    r.assert_error(422, "validation_failed");
    assert_eq!(r.json["details"]["field"], field, "{}", r.text);
}

#[tokio::test]
async fn nul_in_any_json_field_query_or_path_is_a_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let (merchant, key) = app.merchant_with_key("Acme").await;
    let (acct, _) = app.connect_account(&key, "17841400000000101", "acme", WHSEC).await;
    let id = acct["account_id"].as_str().unwrap().to_owned();
    app.open_window(&id, CUSTOMER, time::OffsetDateTime::now_utc()).await;
    let send = |extra: Value| {
        let mut body = json!({"account_id": id, "recipient_id": CUSTOMER, "message": "hi"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };

    let cases = [
        (send(json!({"message": "a\u{0}b"})), "message"),
        (send(json!({"metadata": {"order": {"note": "x\u{0}"}}})), "metadata.order.note"),
        (send(json!({"metadata": {"k\u{0}": "v"}})), "metadata.k\\u0000"),
        (
            send(json!({"quick_replies": [{"title": "ok", "payload": "p"}, {"title": "n\u{0}", "payload": "p"}]})),
            "quick_replies[1].title",
        ),
        (send(json!({"idempotency_key": "k\u{0}"})), "idempotency_key"),
    ];
    for (body, field) in cases {
        assert_nul_refused(&app.post("/api/v1/messages/send", &key, &body).await, field);
    }
    let account =
        json!({"instagram_account_id": "17841400000000102", "username": "shop\u{0}", "access_token": "IGAAx"});
    assert_nul_refused(&app.post("/api/v1/accounts", &key, &account).await, "username");
    let update = json!({"crm_webhook_url": "https://crm.example.com/\u{0}", "webhook_secret": WHSEC});
    assert_nul_refused(&app.put(&format!("/api/v1/accounts/{id}"), &key, &update).await, "crm_webhook_url");
    let merchant_body = json!({"name": "Evil\u{0}Corp"});
    assert_nul_refused(&app.post("/api/v1/admin/merchants", &app.admin_key, &merchant_body).await, "name");

    // Query strings and path segments.
    let list = format!("/api/v1/messages?account_id={id}&recipient_id=9000%00");
    assert_nul_refused(&app.get(&list, &key).await, "recipient_id");
    let start = "/api/v1/oauth/instagram/start?redirect_after=http://127.0.0.1:10000/%00";
    assert_nul_refused(&app.get(start, &key).await, "redirect_after");
    let erase = format!("/api/v1/accounts/{id}/contacts/9000%0001");
    assert_nul_refused(&app.delete(&erase, &key).await, "igsid");

    // Nothing was stored, nothing changed; a literal `\u0000` (escaped backslash) is plain text.
    let n: i64 = sqlx::query_scalar("select count(*) from outbound_messages").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 0);
    let names: Vec<String> = sqlx::query_scalar("select name from merchants").fetch_all(&app.db).await.unwrap();
    assert!(!names.iter().any(|n| n.contains("Evil")), "{names:?}");
    let ok = app.post("/api/v1/messages/send", &key, &send(json!({"message": "a\\u0000b"}))).await;
    assert_eq!(ok.status, 202, "{}", ok.text);
    let text: String =
        sqlx::query_scalar("select message_text from outbound_messages").fetch_one(&app.db).await.unwrap();
    assert_eq!(text, "a\\u0000b");
    let _ = merchant;
}

#[tokio::test]
async fn a_nul_bearing_send_fails_alone_and_its_group_commit_neighbours_are_accepted() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (acct, _) = app.connect_account(&key, "17841400000000103", "acme", WHSEC).await;
    let id = acct["account_id"].as_str().unwrap().to_owned();
    app.open_window(&id, CUSTOMER, time::OffsetDateTime::now_utc()).await;
    // Concurrent sends share group-commit batches; one of them carries a NUL.
    let bodies: Vec<Value> = (0..24)
        .map(|i| {
            let text = if i == 11 { "poison\u{0}".to_owned() } else { format!("hello {i}") };
            json!({"account_id": id, "recipient_id": CUSTOMER, "message": text})
        })
        .collect();
    let replies = join_all(bodies.iter().map(|b| app.post("/api/v1/messages/send", &key, b))).await;
    for (i, r) in replies.iter().enumerate() {
        if i == 11 {
            assert_nul_refused(r, "message");
        } else {
            assert_eq!(r.status, 202, "send {i}: {}", r.text);
        }
    }
    let n: i64 = sqlx::query_scalar("select count(*) from outbound_messages").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 23, "every valid neighbour is stored once");
}

/// Label values of `label` on the series of `metric` in a Prometheus text exposition.
fn label_values(exposition: &str, metric: &str, label: &str) -> BTreeSet<String> {
    let prefix = format!("{metric}{{");
    let needle = format!("{label}=\"");
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|l| l.split_once(&needle).and_then(|(_, rest)| rest.split_once('"')).map(|(v, _)| v.to_owned()))
        .collect()
}

#[tokio::test]
async fn invented_http_methods_and_paths_do_not_add_metric_label_values() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    for i in 0..30 {
        let method = Method::from_bytes(format!("XQZ{i}").as_bytes()).unwrap();
        let _ = app.req(method.clone(), "/healthz", None, None).await;
        let _ = app.req(method, "/api/v1/accounts", Some(&key), None).await;
        let _ = app.req(Method::GET, &format!("/nope/{i}/{}", Uuid::new_v4()), None, None).await;
    }
    let _ = app.get("/api/v1/accounts", &key).await;
    let text = app.req(Method::GET, "/metrics", None, None).await.text;

    let methods = label_values(&text, "router_http_requests_total", "method");
    let allowed: BTreeSet<String> =
        ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other"]
            .into_iter()
            .map(str::to_owned)
            .collect();
    assert!(methods.is_subset(&allowed), "method labels outside the fixed set: {methods:?}");
    assert!(methods.contains("other"), "invented methods are counted as `other`: {methods:?}");
    let routes = label_values(&text, "router_http_requests_total", "route");
    assert!(routes.iter().all(|r| r == "unmatched" || !r.contains("nope")), "{routes:?}");
    assert!(routes.contains("/api/v1/accounts"), "{routes:?}");
    assert!(routes.len() < 10, "route labels are templates, not raw paths: {routes:?}");
}

#[tokio::test]
async fn oauth_redirect_after_accepts_only_configured_origins() {
    let app = TestApp::spawn_with(|v| {
        v.insert(
            "OAUTH_REDIRECT_ALLOWED_ORIGINS".into(),
            "https://crm.example.com, https://app.example.org:8443".into(),
        );
    })
    .await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let start = |target: &str| {
        let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("redirect_after", target).finish();
        format!("/api/v1/oauth/instagram/start?{q}")
    };
    for evil in [
        "https://evil.example/phish",
        "https://crm.example.com.evil.example/",
        "https://crm.example.com@evil.example/",
        "http://crm.example.com/done",
        "https://app.example.org/done",
        "https:/\\evil.example/",
        "javascript:alert(1)",
        "//evil.example/",
    ] {
        let r = app.get(&start(evil), &key).await;
        r.assert_error(400, "redirect_not_allowed");
        assert_eq!(r.json["details"]["field"], "redirect_after", "{}", r.text);
    }
    for fine in
        ["https://crm.example.com/onboarded?x=1", "https://app.example.org:8443/", "http://127.0.0.1:10000/done"]
    {
        let r = app.get(&start(fine), &key).await;
        assert_eq!(r.status, 200, "{fine}: {}", r.text);
    }
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}oauth:*", app.config.redis_key_prefix))
        .query_async(&mut app.state.redis.clone())
        .await
        .unwrap();
    assert_eq!(keys.len(), 3, "refused starts store no pending authorization");
}

#[tokio::test]
async fn sandbox_oauth_sends_the_sandbox_secret_and_never_the_live_one() {
    // The sandbox host only knows the sandbox secret, as in docker compose.
    let sandbox = FakeGraph::start(SANDBOX_APP_SECRET).await;
    let url = sandbox.url();
    let app = TestApp::spawn_with(move |v| {
        v.insert("SANDBOX_GRAPH_API_BASE_URL".into(), url);
    })
    .await;
    let ig = "17841400000000104";
    sandbox.set_sandbox_account(ig, "sandbox_shop");
    let merchant = app.create_merchant("Acme").await;
    let r = app
        .post(
            &format!("/api/v1/admin/merchants/{merchant}/api-keys"),
            &app.admin_key,
            &json!({"name": "sandbox", "scopes": ["accounts:write", "accounts:read"], "environment": "test"}),
        )
        .await;
    let key = r.json["key"].as_str().unwrap().to_owned();
    let start = app.get("/api/v1/oauth/instagram/start", &key).await;
    assert_eq!(start.status, 200, "{}", start.text);
    let authorize = start.json["authorize_url"].as_str().unwrap();
    assert!(authorize.starts_with(&sandbox.url()), "{authorize}");
    let r = app.client.get(authorize).send().await.unwrap();
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let callback = format!("{}{}?{}", app.base, loc.path(), loc.query().unwrap());
    let r = app.client.get(callback).header("accept", "application/json").send().await.unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    // The sandbox fake accepts only its own secret: success proves the sandbox secret was sent.
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "connected");
    let is_sandbox: bool = sqlx::query_scalar("select sandbox from accounts where instagram_account_id = $1")
        .bind(ig)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(is_sandbox);
    // Nothing went to the live host.
    assert!(app.graph.requests().iter().all(|r| !r.path.contains("oauth")), "{:?}", app.graph.requests());
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Runs `scripts/check-compose.py` on a compose file and a dev-up script.
fn check_compose(compose: &Path, dev_up: &Path) -> (bool, String) {
    let out = std::process::Command::new("python3")
        .arg(root().join("scripts/check-compose.py"))
        .arg(compose)
        .arg(dev_up)
        .current_dir(root())
        .output()
        .expect("python3 runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn the_compose_check_refuses_giving_the_live_app_secret_to_the_sandbox() {
    let compose = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let dev_up = std::fs::read_to_string(root().join("scripts/dev-up.sh")).unwrap();
    let dir = std::env::temp_dir().join(format!("compose-check-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let (c, d) = (write("ok.yml", &compose), write("ok.sh", &dev_up));
    let (ok, text) = check_compose(&c, &d);
    assert!(ok, "the shipped files pass: {text}");

    let live = compose.replace("${SANDBOX_IG_APP_SECRET:?", "${IG_APP_SECRET:?");
    assert_ne!(live, compose);
    let (ok, text) = check_compose(&write("live.yml", &live), &d);
    assert!(!ok && text.contains("IG_APP_SECRET"), "{text}");

    let live_host = compose.replace(
        "  SANDBOX_GRAPH_API_BASE_URL: http://fake-graph:10010\n",
        "  SANDBOX_GRAPH_API_BASE_URL: http://fake-graph:10010\n  GRAPH_API_BASE_URL: http://fake-graph:10010\n",
    );
    assert_ne!(live_host, compose);
    let (ok, text) = check_compose(&write("livehost.yml", &live_host), &d);
    assert!(!ok && text.contains("GRAPH_API_BASE_URL"), "{text}");

    let env_file =
        compose.replace("    command: [\"fake-graph\"]\n", "    command: [\"fake-graph\"]\n    env_file: .env\n");
    assert_ne!(env_file, compose);
    let (ok, text) = check_compose(&write("envfile.yml", &env_file), &d);
    assert!(!ok && text.contains("env_file"), "{text}");

    let dev_live =
        dev_up.replace("FAKE_GRAPH_APP_SECRET=\"$SANDBOX_IG_APP_SECRET\"", "FAKE_GRAPH_APP_SECRET=\"$IG_APP_SECRET\"");
    assert_ne!(dev_live, dev_up);
    let (ok, text) = check_compose(&c, &write("live.sh", &dev_live));
    assert!(!ok && text.contains("live.sh"), "{text}");

    let superuser =
        compose.replace("postgres://router_api:${POSTGRES_APP_PASSWORD", "postgres://postgres:${POSTGRES_APP_PASSWORD");
    assert_ne!(superuser, compose);
    let (ok, text) = check_compose(&write("super.yml", &superuser), &d);
    assert!(!ok && text.contains("superuser"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Cluster-wide roles for one test, dropped (with the test's connections closed) at the end.
struct Roles {
    admin: sqlx::PgPool,
    names: Vec<String>,
}

impl Roles {
    async fn create(admin: sqlx::PgPool, statements: &[String], names: Vec<String>) -> Self {
        for s in statements {
            sqlx::query(s).execute(&admin).await.unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        Self { admin, names }
    }

    async fn drop_all(self) {
        for n in self.names.iter().rev() {
            let _ = sqlx::query(&format!("drop role if exists {n}")).execute(&self.admin).await;
        }
    }
}

/// What production adds to the test configuration (strong secrets, TLS Redis, https).
fn production_vars() -> [(String, String); 8] {
    [
        ("ROUTER_ENV", "production"),
        // Nothing listens there: a start that gets past the role check fails on Redis.
        ("REDIS_URL", "rediss://:Kp3v9QzX7mW2rT8y@127.0.0.1:1"),
        ("API_KEY_SALT", "Zq8Xk2Lm9Np4Rs7Tv1Wy3Ab6Cd0Ef5Gh"),
        ("IG_APP_SECRET", "Hj4Kl7Mn0Pq3Rs6Tv9"),
        ("META_VERIFY_TOKEN", "Wx2Yz5Ab8Cd1Ef4Gh7"),
        ("API_BASE_URL", "https://router.example.org"),
        ("INSTAGRAM_OAUTH_BASE_URL", "https://api.instagram.com"),
        ("INSTAGRAM_AUTHORIZE_URL", "https://www.instagram.com/oauth/authorize"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
}

fn login_url(db_url: &str, role: &str) -> SecretString {
    let mut u = url::Url::parse(db_url).unwrap();
    u.set_username(role).unwrap();
    u.set_password(Some("pw-for-role-check")).unwrap();
    SecretString::from(u.to_string())
}

#[tokio::test]
async fn the_api_login_role_check_refuses_roles_that_can_bypass_rls() {
    let db = TestDb::create().await;
    let tag = Uuid::new_v4().simple().to_string()[..10].to_owned();
    let (bypass, mid, bad, good) =
        (format!("rt_bypass_{tag}"), format!("rt_mid_{tag}"), format!("rt_bad_{tag}"), format!("rt_good_{tag}"));
    let creator = format!("rt_creator_{tag}");
    let pw = "password 'pw-for-role-check'";
    let roles = Roles::create(
        db.pool.clone(),
        &[
            format!("create role {bypass} nologin bypassrls"),
            format!("create role {mid} nologin"),
            format!("grant {bypass} to {mid}"),
            // `bad` reaches BYPASSRLS only transitively (bad → mid → bypass).
            format!("create role {bad} login {pw}"),
            format!("grant {mid} to {bad}"),
            format!("grant router_app to {bad}"),
            // What deploy/postgres/app-role.sql makes.
            format!("create role {good} login nosuperuser nobypassrls noinherit {pw}"),
            format!("grant router_app to {good}"),
            // CREATEROLE can grant itself membership in other roles (table owners included).
            format!("create role {creator} login createrole nobypassrls {pw}"),
            format!("grant router_app to {creator}"),
        ],
        vec![bypass.clone(), mid.clone(), bad.clone(), good.clone(), creator.clone()],
    )
    .await;

    let check = async |role: &str| {
        let pool = router_core::db::connect_app_pool(&login_url(&db.url, role), 2).await.expect("connects");
        let problems = router_core::db::app_role_problems(&pool).await.expect("check runs");
        pool.close().await;
        problems
    };
    let bad_problems = check(&bad).await;
    let good_problems = check(&good).await;
    let creator_problems = check(&creator).await;
    // The real start path: router-api in production refuses the superuser and the transitive
    // BYPASSRLS member, and gets past the check (to Redis, unreachable here) with the proper role.
    let start = async |app_url: Option<SecretString>| {
        let mut vars = router_tests::test_vars(&db.url, "https://graph.instagram.com");
        vars.extend(production_vars());
        vars.remove("SANDBOX_GRAPH_API_BASE_URL");
        let mut config = router_tests::config_from(&vars);
        if let Some(u) = app_url {
            config.api.as_mut().expect("API section").database_app_url = u;
        }
        router_api::build_state(config).await.err().map(|e| format!("{e:#}")).unwrap_or_default()
    };
    let as_owner = start(None).await;
    let as_bad = start(Some(login_url(&db.url, &bad))).await;
    let as_good = start(Some(login_url(&db.url, &good))).await;
    // The test database's own login (the superuser, as DATABASE_URL in every example).
    let owner = router_core::db::connect_app_pool(&SecretString::from(db.url.clone()), 2).await.unwrap();
    let owner_problems = router_core::db::app_role_problems(&owner).await.unwrap();
    owner.close().await;
    roles.drop_all().await;

    assert!(bad_problems.iter().any(|p| p.contains(&bypass) && p.contains("BYPASSRLS")), "{bad_problems:?}");
    assert!(good_problems.is_empty(), "the dedicated role passes: {good_problems:?}");
    assert!(creator_problems.iter().any(|p| p.contains("CREATEROLE")), "{creator_problems:?}");
    assert!(owner_problems.iter().any(|p| p.contains("superuser")), "{owner_problems:?}");
    assert!(owner_problems.iter().any(|p| p.contains("table owner")), "{owner_problems:?}");
    assert!(as_owner.contains("DATABASE_APP_URL") && as_owner.contains("superuser"), "{as_owner}");
    assert!(as_bad.contains("DATABASE_APP_URL") && as_bad.contains("BYPASSRLS"), "{as_bad}");
    assert!(as_good.contains("Redis") && !as_good.contains("DATABASE_APP_URL"), "{as_good}");
}

#[tokio::test]
async fn every_security_definer_function_pins_search_path_with_pg_temp_last() {
    let db = TestDb::create().await;
    let rows: Vec<(String, Option<Vec<String>>)> = sqlx::query_as(
        "select p.oid::regprocedure::text, p.proconfig from pg_proc p
         where p.prosecdef and p.pronamespace = 'public'::regnamespace order by 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(rows.len() >= 3, "the API's definer functions exist: {rows:?}");
    for (function, config) in rows {
        let path = config
            .unwrap_or_default()
            .into_iter()
            .find_map(|c| c.strip_prefix("search_path=").map(str::to_owned))
            .unwrap_or_else(|| panic!("{function} has no pinned search_path"));
        let schemas: Vec<&str> = path.split(',').map(str::trim).collect();
        assert_eq!(schemas.last(), Some(&"pg_temp"), "{function}: search_path={path}");
        assert!(!schemas.iter().any(|s| s.contains("$user")), "{function}: search_path={path}");
    }
}

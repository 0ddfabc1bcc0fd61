//! The admin console as an attack surface: no route answers without a session, no state changes
//! without the session's CSRF token, and the API's input rules (body limits, NUL, bounded
//! queries, ids parsed first, no open redirect) hold on every console route.

use router_tests::TestApp;
use router_tests::console::Console;
use uuid::Uuid;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Every console route with sample ids: `(method, path)`. The sign-in page and the static assets
/// are the only routes meant to answer without a session and are not listed.
fn routes(account: &str, key_id: Uuid) -> Vec<(&'static str, String)> {
    let id = Uuid::new_v4();
    vec![
        ("GET", "/admin".into()),
        ("GET", "/admin/accounts".into()),
        ("GET", format!("/admin/accounts/{account}")),
        ("POST", format!("/admin/accounts/{account}/test-event")),
        ("POST", format!("/admin/accounts/{account}/status")),
        ("POST", format!("/admin/accounts/{account}/reconnect")),
        ("GET", "/admin/conversations".into()),
        ("GET", format!("/admin/conversations/{id}")),
        ("GET", "/admin/deliveries".into()),
        ("GET", format!("/admin/deliveries/{id}")),
        ("GET", "/admin/dead-letters".into()),
        ("POST", "/admin/dead-letters/redrive".into()),
        ("GET", "/admin/keys".into()),
        ("POST", "/admin/keys".into()),
        ("POST", format!("/admin/keys/{key_id}/revoke")),
        ("POST", "/admin/merchants".into()),
        ("POST", "/admin/logout".into()),
    ]
}

async fn fixture(app: &TestApp) -> (String, String, Uuid) {
    let (m, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, "17841400000000001", "acme", SECRET).await;
    (m.to_string(), account["account_id"].as_str().unwrap().to_owned(), app.key_id(&key).await)
}

async fn nothing_changed(app: &TestApp, account: &str, key_id: Uuid) {
    let status: String = sqlx::query_scalar("select status from accounts where account_id = $1::uuid")
        .bind(account)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "active");
    let revoked: bool = sqlx::query_scalar("select revoked_at is not null from api_keys where api_key_id = $1")
        .bind(key_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!revoked);
    let merchants: i64 = sqlx::query_scalar("select count(*) from merchants").fetch_one(&app.db).await.unwrap();
    assert_eq!(merchants, 1);
    let deliveries: i64 =
        sqlx::query_scalar("select count(*) from webhook_deliveries").fetch_one(&app.db).await.unwrap();
    assert_eq!(deliveries, 0);
}

#[tokio::test]
async fn no_console_route_answers_without_a_valid_session() {
    let app = TestApp::spawn().await;
    let (m, account, key_id) = fixture(&app).await;
    let mut anon = Console::anonymous(&app);
    let mut forged = Console::anonymous(&app);
    forged.cookie = Some(format!("router_admin_session={}", "A".repeat(43)));
    let mut odd = Console::anonymous(&app);
    odd.cookie = Some("router_admin_session=\"><script>".into());
    for c in [&mut anon, &mut forged, &mut odd] {
        c.csrf = Some("0".repeat(64));
        for (method, path) in routes(&account, key_id) {
            let r = if method == "GET" {
                c.get(&path).await
            } else {
                c.post(&path, &[("status", "inactive"), ("name", "x"), ("merchant_id", &m), ("mode", "filter")]).await
            };
            if method == "GET" {
                assert_eq!(r.status, 303, "{method} {path}");
                assert!(r.header("location").unwrap().starts_with("/admin/login"), "{path}");
            } else {
                assert_eq!(r.status, 401, "{method} {path}: {}", r.text);
            }
            assert!(!r.text.contains("shop_17841400000000001"), "{path} leaks");
        }
    }
    nothing_changed(&app, &account, key_id).await;
    // The sign-in page never sends anyone off-site.
    for next in ["https://evil.example/", "//evil.example", "/admin//evil.example"] {
        let page = anon
            .get(&format!(
                "/admin/login?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            ))
            .await;
        assert!(page.text.contains("name=\"next\" value=\"/admin\""), "{next}");
    }
}

#[tokio::test]
async fn every_state_changing_console_request_needs_this_sessions_csrf_token() {
    let app = TestApp::spawn().await;
    let (m, account, key_id) = fixture(&app).await;
    let mut c = Console::sign_in(&app, &app.admin_key).await;
    let other = Console::sign_in(&app, &app.admin_key).await;
    assert_ne!(c.csrf, other.csrf, "one token per session");
    let good = c.csrf.clone();
    for token in [None, Some(String::new()), Some("0".repeat(64)), other.csrf.clone()] {
        c.csrf = token.clone();
        for (_, path) in routes(&account, key_id).into_iter().filter(|(m, _)| *m == "POST") {
            let r = c
                .post(
                    &path,
                    &[
                        ("status", "inactive"),
                        ("name", "x"),
                        ("merchant_id", &m),
                        ("mode", "filter"),
                        ("scopes", "accounts:read"),
                    ],
                )
                .await;
            assert_eq!(r.status, 403, "{path} with {token:?}: {}", r.text);
            assert!(r.text.contains("CSRF"));
        }
    }
    nothing_changed(&app, &account, key_id).await;
    // With the right token the same request works (the refusals above were about the token).
    c.csrf = good;
    let r = c.post(&format!("/admin/accounts/{account}/status"), &[("status", "inactive")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let metrics = app.get("/metrics", "").await.text;
    assert!(metrics.contains("router_admin_csrf_failures_total"));
}

#[tokio::test]
async fn console_inputs_are_bounded_nul_safe_and_parsed_before_any_query() {
    let app = TestApp::spawn().await;
    let (m, account, _) = fixture(&app).await;
    let c = Console::sign_in(&app, &app.admin_key).await;
    // Body limit: 16 KiB.
    let big = format!("csrf={}&name={}", c.csrf.as_deref().unwrap(), "a".repeat(20 * 1024));
    assert_eq!(c.post_raw("/admin/merchants", big).await.status, 413);
    // NUL in a form field or its name, and in a query: 422 before any database work.
    let r = c.post("/admin/merchants", &[("name", "a\0b")]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = c.post_raw("/admin/merchants", format!("csrf={}&na%00me=x", c.csrf.as_deref().unwrap())).await;
    assert_eq!(r.status, 422);
    for path in ["/admin/accounts?q=a%00b", "/admin/deliveries?event_type=%00", "/admin/conversations?contact=%00"] {
        assert_eq!(c.get(path).await.status, 422, "{path}");
    }
    // Oversized query, forged cursor, bad enum values, bad times: documented refusals, not 500s.
    assert_eq!(c.get(&format!("/admin/accounts?q={}", "a".repeat(5000))).await.status, 413);
    let forged = base64_cursor("-99999999999999999999|x");
    for path in [
        format!("/admin/deliveries?cursor={forged}"),
        "/admin/accounts?status=everything".to_owned(),
        "/admin/deliveries?since=yesterday".to_owned(),
        "/admin/deliveries?since=0000-01-01T00:00".to_owned(),
        "/admin/dead-letters?reason=%27%3B%20drop%20table".to_owned(),
        "/admin/keys?merchant_id=not-a-uuid".to_owned(),
        format!("/admin/accounts?q={}", "é".repeat(101)),
    ] {
        let r = c.get(&path).await;
        assert_eq!(r.status, 422, "{path}: {}", r.text);
    }
    // Unicode, quotes and markup in inputs are stored as given and rendered escaped.
    let name = "Ünïcødé \"<script>alert(1)</script>\" 🛍";
    assert_eq!(c.post("/admin/merchants", &[("name", name)]).await.status, 303);
    let page = c.get("/admin/keys").await;
    assert!(page.text.contains("Ünïcødé &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot; 🛍"));
    assert!(!page.text.contains("<script>alert(1)"));
    // Malformed path ids are 404, like unknown ones.
    for path in ["/admin/accounts/%00", "/admin/deliveries/1'", "/admin/conversations/ffff"] {
        assert_eq!(c.get(path).await.status, 404, "{path}");
    }
    // Lists cap what a form can ask for.
    let ids: Vec<(&str, String)> = (0..201).map(|_| ("ids", Uuid::new_v4().to_string())).collect();
    let mut fields: Vec<(&str, &str)> = vec![("mode", "selected")];
    fields.extend(ids.iter().map(|(k, v)| (*k, v.as_str())));
    assert_eq!(c.post("/admin/dead-letters/redrive", &fields).await.status, 422);
    let many = vec!["x=1"; 600].join("&");
    assert_eq!(c.post_raw("/admin/merchants", format!("csrf={}&{many}", c.csrf.as_deref().unwrap())).await.status, 422);
    // A form that is not URL-encoded is refused.
    let r = app
        .client
        .post(format!("{}/admin/merchants", app.base))
        .header("cookie", c.cookie.as_deref().unwrap())
        .header("content-type", "application/json")
        .body(format!("{{\"csrf\":\"{}\",\"name\":\"j\"}}", c.csrf.as_deref().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let _ = (m, account);
}

fn base64_cursor(raw: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

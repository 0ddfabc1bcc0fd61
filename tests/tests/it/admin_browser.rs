//! The admin console in real headless Chromium (chromedriver + fantoccini) against the real router,
//! its worker and the loopback fakes: sign in and out, a CSRF refusal, another merchant's page as
//! 404, a DLQ redrive from the page reaching the fake CRM, and a key created in the page working
//! against the REST API. `screenshots_of_every_page` (ignored; run by
//! `scripts/admin-screenshots.sh`) writes the images of docs/img/.

use std::time::Duration;

use router_tests::TestApp;
use router_tests::browser::Browser;
use router_tests::router_fakes::crm::Reply;
use serde_json::json;
use uuid::Uuid;

use crate::admin_console::{customer_dm, merchant_with_account};

async fn sign_in(b: &Browser, app: &TestApp, key: &str) {
    b.goto(&format!("{}/admin", app.base)).await;
    // No session yet: the console shows its sign-in page.
    b.wait_for_heading("Message Router admin").await;
    b.type_into("input[name=key]", key).await;
    b.click("button[type=submit]").await;
    b.wait_for_heading("Overview").await;
}

#[tokio::test]
async fn an_admin_signs_in_redrives_from_the_page_creates_a_working_key_and_signs_out() {
    let app = TestApp::spawn().await;
    let (_, _, acct) = merchant_with_account(&app, "Acme", "17841400000000001", "acme").await;
    app.crm.push_replies("acme", Reply::status(401), 1);
    let dead = customer_dm(&app, "17841400000000001", "5550001", "where is my order?").await;
    let b = Browser::start(1280, 800).await;

    sign_in(&b, &app, &app.admin_key).await;
    assert!(b.source().await.contains("dead letters"));

    // DLQ: select the delivery, redrive it; the page shows the result.
    b.click_text("Dead letters").await;
    b.wait_for_heading("Dead letters").await;
    b.click(&format!("input[type=checkbox][value='{dead}']")).await;
    b.click_text("Redrive selected").await;
    let notice = b.wait_for("div.notice").await.text().await.unwrap();
    assert!(notice.contains("1 delivery(ies) re-enqueued"), "{notice}");
    app.deliverer().run_until_idle().await.unwrap();
    let got = app.crm.wait_for("acme", 2, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 2, "the redrive reached the CRM");
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    assert!(got[1].hub_signature_valid && got[1].standard_signature_valid);

    // CSRF: a form whose token was tampered with is refused and changes nothing.
    b.goto(&format!("{}/admin/accounts/{acct}", app.base)).await;
    b.wait_for_heading("@shop_17841400000000001").await;
    b.client
        .execute("document.querySelectorAll('input[name=csrf]').forEach(i => i.value = 'forged');", vec![])
        .await
        .unwrap();
    b.click_text("Send test event").await;
    b.wait_for_heading("Form expired").await;
    let tests: i64 = sqlx::query_scalar("select count(*) from webhook_deliveries where event_type = 'endpoint.test'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(tests, 0);
    // The same button with the page's real token works.
    b.goto(&format!("{}/admin/accounts/{acct}", app.base)).await;
    b.click_text("Send test event").await;
    let notice = b.wait_for("div.notice").await.text().await.unwrap();
    assert!(notice.contains("Test event queued"), "{notice}");

    // A key created in the page works against the API.
    b.click_text("API keys").await;
    b.wait_for_heading("API keys").await;
    b.type_into("form[action='/admin/keys'] input[name=name]", "from-the-browser").await;
    b.click_text("Create key").await;
    b.wait_for_heading("Key created").await;
    let key = b.wait_for("#new-key").await.prop("value").await.unwrap().unwrap();
    assert!(key.starts_with("router_live_"), "{key}");
    let r = app.get("/api/v1/accounts", &key).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["data"][0]["account_id"], json!(acct));

    // Sign out: the console is closed again.
    b.click_text("Sign out").await;
    b.wait_for_heading("Message Router admin").await;
    b.goto(&format!("{}/admin/keys", app.base)).await;
    b.wait_for_heading("Message Router admin").await;
    assert!(!b.source().await.contains("from-the-browser"));
    b.close().await;
}

#[tokio::test]
async fn a_merchant_in_the_browser_sees_its_account_and_gets_404_for_another_merchants() {
    let app = TestApp::spawn().await;
    let (_, key_a, acct_a) = merchant_with_account(&app, "Acme", "17841400000000001", "a").await;
    let (_, _, acct_b) = merchant_with_account(&app, "Bravo", "17841400000000002", "b").await;
    let b = Browser::start(390, 844).await;
    sign_in(&b, &app, &key_a).await;
    b.click_text("Accounts").await;
    b.wait_for_heading("Accounts").await;
    b.click_text("@shop_17841400000000001").await;
    b.wait_for_heading("@shop_17841400000000001").await;
    assert!(b.source().await.contains(&acct_a));
    b.goto(&format!("{}/admin/accounts/{acct_b}", app.base)).await;
    b.wait_for_heading("Not found").await;
    assert!(!b.source().await.contains("17841400000000002"));
    b.goto(&format!("{}/admin/keys", app.base)).await;
    b.wait_for_heading("Not allowed").await;
    b.close().await;
}

/// Seeds a small but complete data set and saves a screenshot of every page at 1280×800 and
/// 390×844 into `ADMIN_SCREENSHOTS_DIR` (docs/img by `scripts/admin-screenshots.sh`).
#[tokio::test]
#[ignore = "writes docs/img; run by scripts/admin-screenshots.sh"]
async fn screenshots_of_every_page() {
    let dir = std::path::PathBuf::from(std::env::var("ADMIN_SCREENSHOTS_DIR").unwrap_or_else(|_| "docs/img".into()));
    std::fs::create_dir_all(&dir).unwrap();
    let app = TestApp::spawn().await;
    let (m, key, acct) = merchant_with_account(&app, "Acme Shoes", "17841400000000001", "acme").await;
    let (_, _, _) = merchant_with_account(&app, "Bravo Books", "17841400000000002", "bravo").await;
    // A conversation with both directions, statuses and deliveries; the CRM is busy twice first,
    // so the DM's delivery has an attempt log worth showing.
    app.crm.push_replies("acme", Reply::status(503).body("{\"error\":\"busy, try again\"}"), 2);
    let dm = customer_dm(&app, "17841400000000001", "5550001", "Hi! Are the red sneakers back in size 42?").await;
    let r = app.send_text(&key, &acct, "5550001", "Yes, they arrived this morning. Shall I reserve a pair?").await;
    assert_eq!(r.status, 202);
    app.drain_until(Duration::from_secs(20), async || app.crm.received_on("acme").len() >= 5).await;
    // Dead letters: a CRM that refuses (401) and one that is down.
    app.crm.push_replies("bravo", Reply::status(401), 2);
    customer_dm(&app, "17841400000000002", "5550002", "Do you ship to Lisbon?").await;
    customer_dm(&app, "17841400000000002", "5550003", "Order #1042 status?").await;
    app.create_key(m, &["messages:read"]).await;
    let conv: Uuid = sqlx::query_scalar("select conversation_id from conversations where account_id = $1::uuid")
        .bind(&acct)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let pages = [
        ("overview", "/admin".to_owned()),
        ("accounts", "/admin/accounts".to_owned()),
        ("account", format!("/admin/accounts/{acct}")),
        ("conversations", "/admin/conversations".to_owned()),
        ("thread", format!("/admin/conversations/{conv}")),
        ("deliveries", "/admin/deliveries".to_owned()),
        ("delivery", format!("/admin/deliveries/{dm}")),
        ("dead-letters", "/admin/dead-letters".to_owned()),
        ("keys", "/admin/keys".to_owned()),
    ];
    for (w, h, suffix) in [(1280, 800, "desktop"), (390, 844, "mobile")] {
        let b = Browser::start(w, h).await;
        b.goto(&format!("{}/admin/login", app.base)).await;
        b.wait_for_heading("Message Router admin").await;
        std::fs::write(dir.join(format!("admin-login-{suffix}.png")), b.screenshot().await).unwrap();
        sign_in(&b, &app, &app.admin_key).await;
        for (name, path) in &pages {
            b.goto(&format!("{}{path}", app.base)).await;
            b.wait_for("main h1").await;
            std::fs::write(dir.join(format!("admin-{name}-{suffix}.png")), b.screenshot().await).unwrap();
        }
        b.close().await;
    }
}

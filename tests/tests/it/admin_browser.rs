//! The admin console in real headless Chromium (chromedriver + fantoccini) against the real router,
//! its worker and the loopback fakes: sign in and out, a CSRF refusal, another merchant's page as
//! 404, a DLQ redrive from the page reaching the fake CRM, and a key created in the page working
//! against the REST API, re-connecting an account through Instagram's login, and every page used
//! with the keyboard alone. `screenshots_of_every_page` (ignored; run by
//! `scripts/admin-screenshots.sh`) writes the images of docs/img/.

use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use router_tests::TestApp;
use router_tests::browser::Browser;
use router_tests::router_fakes::crm::Reply;
use secrecy::ExposeSecret;
use serde_json::json;
use uuid::Uuid;

use crate::admin_console::{SECRET, customer_dm, merchant_with_account};

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

/// An account whose token Instagram revoked is re-connected from its page: Instagram's login
/// (the fake's consent page, served as `localhost` so that it is another site, as instagram.com
/// is in production; the person clicks "Allow" there) comes back through the OAuth callback to
/// the account's page, still signed in although that way back, started on another site, carried
/// no SameSite=Strict cookie; the new token is stored and the reply that waited for it goes out.
#[tokio::test]
async fn a_merchant_reconnects_an_account_with_a_revoked_token_from_its_page() {
    let app = TestApp::spawn_serving_own_base(|v| {
        let other_site = v["INSTAGRAM_AUTHORIZE_URL"].replace("127.0.0.1", "localhost");
        v.insert("INSTAGRAM_AUTHORIZE_URL".into(), other_site);
    })
    .await;
    let ig = "17841400000000001";
    let (merchant, key) = app.merchant_with_key("Acme").await;
    let (account, old_token) = app.connect_account(&key, ig, "acme", SECRET).await;
    let acct = account["account_id"].as_str().unwrap().to_owned();
    app.graph.revoke_token(&old_token);
    app.open_window(&acct, "5550001", time::OffsetDateTime::now_utc()).await;
    let r = app.send_text(&key, &acct, "5550001", "Your parcel left today.").await;
    assert_eq!(r.status, 202, "{}", r.text);
    app.sender().run_until_idle().await.unwrap();
    assert_eq!(app.get(&format!("/api/v1/accounts/{acct}"), &key).await.json["status"], "error");
    // Instagram's login page logs in as this account; the person clicks "Allow" there.
    app.graph.set_sandbox_account(ig, &format!("shop_{ig}"));
    app.graph.show_consent_page(true);

    let b = Browser::start(1280, 800).await;
    sign_in(&b, &app, &key).await;
    b.goto(&format!("{}/admin/accounts/{acct}", app.base)).await;
    b.wait_for_heading(&format!("@shop_{ig}")).await;
    b.click_text("Re-connect (Instagram login)").await;
    b.wait_for_heading("Allow access?").await;
    assert_eq!(b.client.current_url().await.unwrap().host_str(), Some("localhost"), "Instagram is another site");
    b.click("#allow").await;
    let notice = b.wait_for("div.notice").await.text().await.unwrap();
    assert!(notice.contains("Re-connected through Instagram"), "{notice}");
    b.wait_for_heading(&format!("@shop_{ig}")).await;
    let url = b.client.current_url().await.unwrap();
    assert_eq!(url.path(), format!("/admin/accounts/{acct}"));
    assert!(url.query().unwrap_or_default().contains("status=connected"), "{url}");
    assert!(app.graph.requests().iter().any(|r| r.path == "/oauth/access_token"), "the code was exchanged");

    // The same account (no second one) holds a new, valid token and is active again.
    let rows: Vec<(uuid::Uuid, String, String)> =
        sqlx::query_as("select account_id, status, access_token_enc from accounts where merchant_id = $1")
            .bind(merchant)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0.to_string(), acct);
    assert_eq!(rows[0].1, "active");
    let token = app.config.keyring.decrypt(&rows[0].2).unwrap();
    assert_ne!(token.expose_secret(), old_token);
    assert!(app.graph.token_valid(token.expose_secret()));
    // The reply that waited for a valid token goes out.
    app.sender().run_until_idle().await.unwrap();
    let sent: Vec<String> =
        app.graph.sent().iter().map(|m| m.body["message"]["text"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(sent, ["Your parcel left today."]);
    b.close().await;
}

/// Presses one key on whatever has the focus, as a person at the keyboard does.
async fn press(b: &Browser, key: Key) {
    let k: char = key.into();
    let seq = KeyActions::new("keyboard".into()).then(KeyAction::Down { value: k }).then(KeyAction::Up { value: k });
    b.client.perform_actions(seq).await.expect("key press");
}

/// What the focused element is: its `data-kbd` mark (set by [`audit_tab_order`]), or a short
/// description; and whether the browser draws a visible focus ring around it.
async fn focused(b: &Browser) -> (String, bool) {
    let v = b
        .client
        .execute(
            "const e = document.activeElement; if (!e || e === document.body) return ['', false];
             const s = getComputedStyle(e);
             const ring = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
             return [e.dataset.kbd || (e.tagName + ' ' + (e.textContent || '').trim() + ' ' + (e.getAttribute('href') || e.name || '')), ring];",
            vec![],
        )
        .await
        .expect("focused element");
    (v[0].as_str().unwrap_or_default().to_owned(), v[1].as_bool().unwrap_or(false))
}

/// Presses Tab until the focused element matches `css`, then returns (at most 200 presses).
async fn tab_to(b: &Browser, css: &str) {
    for _ in 0..200 {
        press(b, Key::Tab).await;
        let hit = b
            .client
            .execute(
                "return !!document.activeElement && document.activeElement.matches(arguments[0]);",
                vec![json!(css)],
            )
            .await
            .expect("match");
        if hit.as_bool() == Some(true) {
            return;
        }
    }
    panic!("Tab never reached `{css}`; page was:\n{}", b.source().await);
}

/// Tabs through the whole page: every visible link, button and field (a radio group once) must
/// take the focus, each with a visible focus ring. Returns how many there were.
async fn audit_tab_order(b: &Browser, page: &str) -> usize {
    let marked = b
        .client
        .execute(
            "const sel = 'a[href], button, input:not([type=hidden]), select, textarea, summary';
             // A radio group is one Tab stop (its checked radio; arrow keys move within it).
             const stop = e => e.type !== 'radio' || e.checked ||
               ![...document.getElementsByName(e.name)].some(r => r.checked) && document.getElementsByName(e.name)[0] === e;
             const els = [...document.querySelectorAll(sel)]
               .filter(e => !e.disabled && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden' && stop(e));
             els.forEach((e, i) => e.dataset.kbd = String(i));
             if (document.activeElement) document.activeElement.blur();
             return els.length;",
            vec![],
        )
        .await
        .expect("mark the page's controls");
    let total = usize::try_from(marked.as_u64().unwrap_or(0)).unwrap_or(0);
    assert!(total > 0, "{page}: nothing to focus");
    let mut seen = std::collections::BTreeSet::new();
    let mut without_ring = Vec::new();
    for _ in 0..total * 2 + 10 {
        press(b, Key::Tab).await;
        let (mark, ring) = focused(b).await;
        if let Ok(i) = mark.parse::<usize>() {
            if !ring {
                without_ring.push(i);
            }
            seen.insert(i);
            if seen.len() == total {
                break;
            }
        } else if !mark.is_empty() {
            panic!("{page}: Tab focused something that is not visible or not a control: {mark}");
        }
    }
    let missed: Vec<usize> = (0..total).filter(|i| !seen.contains(i)).collect();
    assert!(missed.is_empty(), "{page}: Tab never reaches controls {missed:?} of {total}:\n{}", b.source().await);
    assert!(without_ring.is_empty(), "{page}: controls {without_ring:?} show no focus ring");
    total
}

/// The whole console with the keyboard alone: sign in, reach every page from the navigation and
/// the lists, with Tab reaching every control of each page (focus ring visible), redrive a dead
/// letter (Space to select, Enter to act), create a key, and sign out. No mouse click anywhere.
#[tokio::test]
async fn every_page_is_usable_with_the_keyboard_alone() {
    let app = TestApp::spawn().await;
    let (_, _, acct) = merchant_with_account(&app, "Acme", "17841400000000001", "acme").await;
    app.crm.push_replies("acme", Reply::status(401), 1);
    let dead = customer_dm(&app, "17841400000000001", "5550001", "where is my order?").await;
    let b = Browser::start(1280, 800).await;
    let mut pages = Vec::new();

    b.goto(&format!("{}/admin", app.base)).await;
    b.wait_for_heading("Message Router admin").await;
    pages.push(("sign-in", audit_tab_order(&b, "sign-in").await));
    tab_to(&b, "input[name=key]").await;
    b.client.active_element().await.unwrap().send_keys(&app.admin_key).await.unwrap();
    press(&b, Key::Enter).await;
    b.wait_for_heading("Overview").await;
    pages.push(("overview", audit_tab_order(&b, "overview").await));

    // The skip link moves the focus to the page's content.
    tab_to(&b, "a.skip").await;
    press(&b, Key::Enter).await;
    let on_main = b.client.execute("return document.activeElement.id === 'content';", vec![]).await.unwrap().as_bool();
    assert_eq!(on_main, Some(true), "the skip link focuses <main>");

    // Each list from the navigation, then one item of it.
    let walk: [(&str, &str, &str); 4] = [
        ("Accounts", "a[href^='/admin/accounts/']", "@shop_17841400000000001"),
        ("Conversations", "a[href^='/admin/conversations/']", ""),
        ("Deliveries", "a[href^='/admin/deliveries/']", ""),
        ("API keys", "", ""),
    ];
    for (nav, item, item_heading) in walk {
        tab_to(&b, &format!("nav.main a[href='{}']", nav_href(nav))).await;
        press(&b, Key::Enter).await;
        b.wait_for_heading(nav).await;
        pages.push((nav, audit_tab_order(&b, nav).await));
        if item.is_empty() {
            continue;
        }
        tab_to(&b, item).await;
        press(&b, Key::Enter).await;
        if item_heading.is_empty() {
            wait_for_item_page(&b).await;
        } else {
            b.wait_for_heading(item_heading).await;
        }
        pages.push((item, audit_tab_order(&b, item).await));
    }
    assert!(b.client.current_url().await.unwrap().path().starts_with("/admin/keys"));

    // Dead letters: Space selects the row, Enter on "Redrive selected" acts.
    tab_to(&b, "nav.main a[href='/admin/dead-letters']").await;
    press(&b, Key::Enter).await;
    b.wait_for_heading("Dead letters").await;
    pages.push(("Dead letters", audit_tab_order(&b, "Dead letters").await));
    tab_to(&b, &format!("input[type=checkbox][value='{dead}']")).await;
    press(&b, Key::Space).await;
    let checked = b.wait_for(&format!("input[type=checkbox][value='{dead}']")).await.prop("checked").await.unwrap();
    assert_eq!(checked.as_deref(), Some("true"));
    tab_to(&b, "form#selected div.actions button").await;
    press(&b, Key::Enter).await;
    let notice = b.wait_for("div.notice").await.text().await.unwrap();
    assert!(notice.contains("1 delivery(ies) re-enqueued"), "{notice}");

    // A key, created by typing its name and pressing Enter.
    tab_to(&b, "nav.main a[href='/admin/keys']").await;
    press(&b, Key::Enter).await;
    b.wait_for_heading("API keys").await;
    tab_to(&b, "form[action='/admin/keys'] input[name=name]").await;
    b.client.active_element().await.unwrap().send_keys("typed-by-keyboard").await.unwrap();
    press(&b, Key::Enter).await;
    b.wait_for_heading("Key created").await;
    let key = b.wait_for("#new-key").await.prop("value").await.unwrap().unwrap();
    assert_eq!(app.get("/api/v1/accounts", &key).await.json["data"][0]["account_id"], json!(acct));

    // Sign out from the keyboard.
    tab_to(&b, "form[action='/admin/logout'] button").await;
    press(&b, Key::Enter).await;
    b.wait_for_heading("Message Router admin").await;
    b.close().await;
    assert!(pages.len() >= 9, "{pages:?}");
}

/// Waits until the page shown is one item's (`/admin/<list>/<id>`) and its heading is there.
async fn wait_for_item_page(b: &Browser) {
    for _ in 0..100 {
        let url = b.client.current_url().await.expect("url");
        if url.path().matches('/').count() == 3 {
            b.wait_for("main h1").await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no item page opened; page was:\n{}", b.source().await);
}

fn nav_href(label: &str) -> &'static str {
    match label {
        "Accounts" => "/admin/accounts",
        "Conversations" => "/admin/conversations",
        "Deliveries" => "/admin/deliveries",
        "Dead letters" => "/admin/dead-letters",
        _ => "/admin/keys",
    }
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

//! Accounts API: token validation with the (fake) Graph API, encryption at rest, tenant isolation.

use router_tests::TestApp;
use serde_json::json;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[tokio::test]
async fn connecting_an_account_validates_the_token_and_stores_only_ciphertext() {
    let app = TestApp::spawn().await;
    let (merchant, key) = app.merchant_with_key("Acme").await;
    let (account, token) = app.connect_account(&key, "17841400000000042", "acme", SECRET).await;

    // The response names the account and never carries a secret.
    assert_eq!(account["instagram_account_id"], "17841400000000042");
    assert_eq!(account["status"], "active");
    assert_eq!(account["crm_webhook_url"], app.crm.url("acme"));
    let text = account.to_string();
    assert!(!text.contains(&token) && !text.contains(SECRET));
    assert!(account.get("access_token").is_none() && account.get("webhook_secret").is_none());

    // Meta was asked who the token belongs to.
    let me: Vec<_> = app.graph.requests().into_iter().filter(|r| r.path == "/me").collect();
    assert_eq!(me.len(), 1);
    assert_eq!(me[0].token.as_deref(), Some(token.as_str()));

    // At rest: `<kver>:<base64>` ciphertext that decrypts to the token.
    let (tok_enc, secret_enc): (String, String) = sqlx::query_as(
        "select a.access_token_enc, e.secret_enc from accounts a join webhook_endpoints e using (account_id) where a.merchant_id = $1",
    )
    .bind(merchant)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(tok_enc.starts_with("1:") && !tok_enc.contains(&token), "{tok_enc}");
    assert!(secret_enc.starts_with("1:") && !secret_enc.contains("MfKQ9r8"));
    let plain = app.config.keyring.decrypt(&tok_enc).unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&plain), token);

    // List and get show it; a second create of the same Instagram account conflicts.
    let list = app.get("/api/v1/accounts", &key).await;
    assert_eq!(list.json["data"].as_array().unwrap().len(), 1);
    let id = account["account_id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/api/v1/accounts/{id}"), &key).await.json["username"], "shop_17841400000000042");
    let dup = app
        .post(
            "/api/v1/accounts",
            &key,
            &json!({"instagram_account_id": "17841400000000042", "username": "x", "access_token": token,
                    "crm_webhook_url": app.crm.url("acme"), "webhook_secret": SECRET}),
        )
        .await;
    dup.assert_error(409, "account_exists");
}

#[tokio::test]
async fn a_token_meta_rejects_is_a_400_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let r = app
        .post(
            "/api/v1/accounts",
            &key,
            &json!({"instagram_account_id": "17841400000000042", "username": "shop", "access_token": "IGAAnot-a-real-token",
                    "crm_webhook_url": app.crm.url("acme"), "webhook_secret": SECRET}),
        )
        .await;
    r.assert_error(400, "invalid_instagram_token");
    assert_eq!(r.json["details"]["instagram_error_code"], 190);
    let n: i64 = sqlx::query_scalar("select count(*) from accounts").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 0);

    // A token of another Instagram account is refused too.
    let other = app.graph.add_account("17841400000000099", "other");
    let r = app
        .post(
            "/api/v1/accounts",
            &key,
            &json!({"instagram_account_id": "17841400000000042", "username": "shop", "access_token": other,
                    "crm_webhook_url": app.crm.url("acme"), "webhook_secret": SECRET}),
        )
        .await;
    r.assert_error(400, "instagram_account_mismatch");

    // Meta down → 503, not a misleading "invalid token".
    let good = app.graph.add_account("17841400000000042", "shop");
    app.graph.script(
        router_tests::router_fakes::graph::Endpoint::Me,
        router_tests::router_fakes::graph::Scripted::code(2, None),
        1,
    );
    let r = app
        .post(
            "/api/v1/accounts",
            &key,
            &json!({"instagram_account_id": "17841400000000042", "username": "shop", "access_token": good,
                    "crm_webhook_url": app.crm.url("acme"), "webhook_secret": SECRET}),
        )
        .await;
    r.assert_error(503, "service_unavailable");
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let base = json!({"instagram_account_id": "17841400000000042", "username": "shop", "access_token": "t",
                      "crm_webhook_url": app.crm.url("acme"), "webhook_secret": SECRET});
    for (field, value) in [
        ("instagram_account_id", json!("abc")),
        ("webhook_secret", json!("short")),
        ("crm_webhook_url", json!("ftp://example.com")),
        ("event_types", json!(["message.nope"])),
    ] {
        let mut body = base.clone();
        body[field] = value;
        let r = app.post("/api/v1/accounts", &key, &body).await;
        r.assert_error(422, "validation_failed");
        assert_eq!(r.json["details"]["field"], field);
    }
    let mut body = base.clone();
    body.as_object_mut().unwrap().remove("access_token");
    app.post("/api/v1/accounts", &key, &body).await.assert_error(400, "invalid_request");
}

#[tokio::test]
async fn another_merchants_account_is_404_for_every_verb() {
    let app = TestApp::spawn().await;
    let (_, key_a) = app.merchant_with_key("A").await;
    let (_, key_b) = app.merchant_with_key("B").await;
    let (account, _) = app.connect_account(&key_a, "17841400000000042", "a", SECRET).await;
    let id = account["account_id"].as_str().unwrap();

    app.get(&format!("/api/v1/accounts/{id}"), &key_b).await.assert_error(404, "not_found");
    app.put(&format!("/api/v1/accounts/{id}"), &key_b, &json!({"status": "inactive"}))
        .await
        .assert_error(404, "not_found");
    let r = app.delete(&format!("/api/v1/accounts/{id}"), &key_b).await;
    r.assert_error(404, "not_found");
    assert!(app.get("/api/v1/accounts", &key_b).await.json["data"].as_array().unwrap().is_empty());
    // Still intact for its owner.
    assert_eq!(app.get(&format!("/api/v1/accounts/{id}"), &key_a).await.json["status"], "active");
}

#[tokio::test]
async fn update_rotates_the_secret_with_overlap_validates_new_tokens_and_delete_keeps_history() {
    let app = TestApp::spawn().await;
    let (merchant, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, "17841400000000042", "acme", SECRET).await;
    let id = account["account_id"].as_str().unwrap();

    let r = app
        .put(
            &format!("/api/v1/accounts/{id}"),
            &key,
            &json!({"webhook_secret": "a-brand-new-secret-value-123", "status": "inactive",
             "event_types": ["message.received"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "inactive");
    assert_eq!(r.json["event_types"], json!(["message.received"]));
    let (prev, until): (Option<String>, Option<time::OffsetDateTime>) = sqlx::query_as(
        "select previous_secret_enc, previous_secret_expires_at from webhook_endpoints where merchant_id = $1",
    )
    .bind(merchant)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let prev = app.config.keyring.decrypt(&prev.unwrap()).unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&prev), SECRET);
    let overlap = until.unwrap() - time::OffsetDateTime::now_utc();
    assert!(overlap > time::Duration::hours(23) && overlap <= time::Duration::hours(24), "{overlap}");

    // A bad replacement token is refused; a good one is accepted.
    app.put(&format!("/api/v1/accounts/{id}"), &key, &json!({"access_token": "IGAAbogus"}))
        .await
        .assert_error(400, "invalid_instagram_token");
    let fresh = app.graph.add_account("17841400000000042", "shop");
    let r = app.put(&format!("/api/v1/accounts/{id}"), &key, &json!({"access_token": fresh, "status": "active"})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Delete: 204, gone from the list and from GET... but the row (history) remains.
    assert_eq!(app.delete(&format!("/api/v1/accounts/{id}"), &key).await.status, 204);
    assert!(app.get("/api/v1/accounts", &key).await.json["data"].as_array().unwrap().is_empty());
    let status: String = sqlx::query_scalar("select status from accounts where merchant_id = $1")
        .bind(merchant)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "deleted");
    app.put(&format!("/api/v1/accounts/{id}"), &key, &json!({"status": "active"})).await.assert_error(404, "not_found");
}

#[tokio::test]
async fn keys_limited_to_accounts_see_only_those() {
    let app = TestApp::spawn().await;
    let (merchant, key) = app.merchant_with_key("Acme").await;
    let (a1, _) = app.connect_account(&key, "17841400000000001", "a1", SECRET).await;
    let (a2, _) = app.connect_account(&key, "17841400000000002", "a2", SECRET).await;
    let r = app
        .post(
            &format!("/api/v1/admin/merchants/{merchant}/api-keys"),
            &app.admin_key,
            &json!({"name": "limited", "scopes": ["accounts:read", "accounts:write"], "account_ids": [a1["account_id"]]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let limited = r.json["key"].as_str().unwrap();
    let list = app.get("/api/v1/accounts", limited).await;
    assert_eq!(list.json["data"].as_array().unwrap().len(), 1);
    app.get(&format!("/api/v1/accounts/{}", a2["account_id"].as_str().unwrap()), limited)
        .await
        .assert_error(404, "not_found");
    app.post(
        "/api/v1/accounts",
        limited,
        &json!({"instagram_account_id": "1", "username": "x", "access_token": "t",
        "crm_webhook_url": app.crm.url("x"), "webhook_secret": SECRET}),
    )
    .await
    .assert_error(403, "forbidden");
}

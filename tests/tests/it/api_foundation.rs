//! HTTP conventions, authentication, tenants and keys, OpenAPI and docs.

use reqwest::Method;
use router_tests::TestApp;
use serde_json::{Value, json};

#[tokio::test]
async fn health_ready_and_metrics_endpoints_answer() {
    let app = TestApp::spawn().await;
    let r = app.req(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, 200);
    let r = app.req(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["postgres"], "ok");
    assert_eq!(r.json["redis"], "ok");
    let r = app.req(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("router_http_requests_total"), "{}", r.text);
}

#[tokio::test]
async fn admin_creates_a_merchant_and_a_key_shown_once_and_stored_only_as_a_hash() {
    let app = TestApp::spawn().await;
    let merchant = app.create_merchant("Acme").await;
    let r = app
        .post(
            &format!("/api/v1/admin/merchants/{merchant}/api-keys"),
            &app.admin_key,
            &json!({"name": "crm", "scopes": ["messages:send", "messages:read"], "environment": "test"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key = r.json["key"].as_str().unwrap();
    assert!(key.starts_with("router_test_") && key.len() >= 12 + 43, "{key}");
    assert_eq!(r.json["scopes"], json!(["messages:read", "messages:send"]));

    // Nothing in the table contains the key.
    let rows: Vec<(Vec<u8>, String)> =
        sqlx::query_as("select key_hash, key_prefix from api_keys where merchant_id = $1")
            .bind(merchant)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0.len(), 32);
    assert!(key.starts_with(&rows[0].1) && rows[0].1.len() < key.len());
    let dump: String =
        sqlx::query_scalar("select string_agg(t::text, ' ') from api_keys t").fetch_one(&app.db).await.unwrap();
    assert!(!dump.contains(key));

    // The key works (its scope allows reading), and the reads do not need the admin.
    let r = app.get("/api/v1/accounts", key).await;
    r.assert_error(403, "forbidden"); // accounts:read not granted
}

#[tokio::test]
async fn authentication_failures_are_401_and_scope_failures_403() {
    let app = TestApp::spawn().await;
    let (merchant, key) = app.merchant_with_key("Acme").await;

    app.req(Method::GET, "/api/v1/accounts", None, None).await.assert_error(401, "unauthorized");
    app.get("/api/v1/accounts", "router_live_doesnotexist0000000000000000000000000000000")
        .await
        .assert_error(401, "unauthorized");
    app.get("/api/v1/accounts", "not-a-router-key").await.assert_error(401, "unauthorized");

    // Expired.
    let expiring = app.create_key(merchant, &["accounts:read"]).await;
    assert_eq!(app.get("/api/v1/accounts", &expiring).await.status, 200);
    sqlx::query("update api_keys set expires_at = now() - interval '1 minute' where api_key_id = $1")
        .bind(app.key_id(&expiring).await)
        .execute(&app.db)
        .await
        .unwrap();
    app.get("/api/v1/accounts", &expiring).await.assert_error(401, "unauthorized");

    // Revoked, effective immediately.
    let id = app.key_id(&key).await;
    assert_eq!(app.get("/api/v1/accounts", &key).await.status, 200);
    let r = app.delete(&format!("/api/v1/admin/api-keys/{id}"), &app.admin_key).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["revoked_at"].is_string());
    assert!(r.json.get("key").is_none());
    let r = app.get("/api/v1/accounts", &key).await;
    r.assert_error(401, "unauthorized");
    assert!(r.json["message"].as_str().unwrap().contains("revoked"));

    // Merchant keys cannot use admin endpoints; admin keys cannot act for a merchant.
    let k2 = app.create_key(merchant, &["accounts:read"]).await;
    app.post("/api/v1/admin/merchants", &k2, &json!({"name": "x"})).await.assert_error(403, "forbidden");
    app.get("/api/v1/accounts", &app.admin_key).await.assert_error(403, "forbidden");
    // Merchant keys cannot be given the admin scope.
    app.post(
        &format!("/api/v1/admin/merchants/{merchant}/api-keys"),
        &app.admin_key,
        &json!({"name": "x", "scopes": ["admin"]}),
    )
    .await
    .assert_error(422, "validation_failed");
    // Unknown scope → 400 with the JSON body.
    app.post(
        &format!("/api/v1/admin/merchants/{merchant}/api-keys"),
        &app.admin_key,
        &json!({"name": "x", "scopes": ["root"]}),
    )
    .await
    .assert_error(400, "invalid_request");
    // Unknown merchant → 404.
    app.post(
        &format!("/api/v1/admin/merchants/{}/api-keys", uuid::Uuid::new_v4()),
        &app.admin_key,
        &json!({"name": "x", "scopes": ["accounts:read"]}),
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn last_used_at_is_recorded_in_batches_not_per_request() {
    let app = TestApp::spawn().await;
    let (merchant, key) = app.merchant_with_key("Acme").await;
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/accounts", &key).await.status, 200);
    }
    let used: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select last_used_at from api_keys where merchant_id = $1")
            .bind(merchant)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(used.is_none(), "no write per request");
    app.state.key_usage.flush(&app.state.db).await.unwrap();
    let used: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select last_used_at from api_keys where merchant_id = $1")
            .bind(merchant)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(used.is_some());
}

#[tokio::test]
async fn malformed_bodies_unknown_routes_and_oversized_bodies_get_the_json_error_format() {
    let app = TestApp::spawn_with(|v| {
        v.insert("MAX_BODY_BYTES".into(), "2048".into());
    })
    .await;
    let (_, key) = app.merchant_with_key("Acme").await;

    let r = app
        .client
        .post(format!("{}/api/v1/accounts", app.base))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .header("x-request-id", "req-from-client-123")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-from-client-123");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["correlation_id"], "req-from-client-123");

    app.req(Method::GET, "/api/v1/nope", Some(&key), None).await.assert_error(404, "not_found");
    app.req(Method::PATCH, "/api/v1/accounts", Some(&key), None).await.assert_error(405, "method_not_allowed");

    let big = json!({"instagram_account_id": "1", "username": "x".repeat(4000), "access_token": "t",
                     "crm_webhook_url": "http://x", "webhook_secret": "s"});
    app.post("/api/v1/accounts", &key, &big).await.assert_error(413, "payload_too_large");
}

#[tokio::test]
async fn bad_bodies_and_path_ids_are_400s_in_our_words_naming_the_field() {
    let app = TestApp::spawn().await;
    let (merchant, key) = app.merchant_with_key("Acme").await;
    let raw = |body: &'static str| {
        app.client
            .post(format!("{}/api/v1/admin/merchants/{merchant}/api-keys", app.base))
            .bearer_auth(&app.admin_key)
            .header("content-type", "application/json")
            .body(body)
    };
    let field_of = |v: &serde_json::Value| v["details"]["field"].as_str().unwrap_or_default().to_owned();

    // Not JSON at all: the body is the field; no framework text.
    let r: serde_json::Value = raw("{not json").send().await.unwrap().json().await.unwrap();
    assert_eq!(r["error"], "invalid_request", "{r}");
    assert_eq!(field_of(&r), "body", "{r}");
    assert!(r["message"].as_str().unwrap().starts_with("body: is not valid JSON"), "{r}");
    // A wrong type names the field, nested paths included.
    let r: serde_json::Value =
        raw(r#"{"name": 5, "scopes": ["accounts:read"]}"#).send().await.unwrap().json().await.unwrap();
    assert_eq!(field_of(&r), "name", "{r}");
    let r: serde_json::Value =
        raw(r#"{"name": "x", "scopes": ["accounts:read", "root"]}"#).send().await.unwrap().json().await.unwrap();
    assert_eq!(field_of(&r), "scopes[1]", "{r}");
    // A missing field names the missing field, an unknown one the unknown one.
    let r: serde_json::Value = raw(r#"{"scopes": ["accounts:read"]}"#).send().await.unwrap().json().await.unwrap();
    assert_eq!(field_of(&r), "name", "{r}");
    assert_eq!(r["details"]["reason"], "is required", "{r}");
    let r: serde_json::Value =
        raw(r#"{"name": "x", "scopes": [], "colour": 1}"#).send().await.unwrap().json().await.unwrap();
    assert_eq!(field_of(&r), "colour", "{r}");
    // Trailing garbage after the document.
    let r: serde_json::Value =
        raw(r#"{"name": "x", "scopes": ["accounts:read"]} x"#).send().await.unwrap().json().await.unwrap();
    assert_eq!(field_of(&r), "body", "{r}");
    assert!(!r.to_string().contains("Failed to deserialize"), "{r}");

    // A path id that is not a UUID: 400 naming the parameter, in our words.
    let r = app.get("/api/v1/messages/not-a-uuid/status", &key).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.json["details"]["field"], "message_id", "{}", r.text);
    assert_eq!(r.json["details"]["in"], "path", "{}", r.text);
    assert!(!r.text.contains("Invalid URL") && !r.text.contains("Cannot parse"), "{}", r.text);
    let r =
        app.post("/api/v1/admin/merchants/nope/api-keys", &app.admin_key, &json!({"name": "x", "scopes": []})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.json["details"]["field"], "merchant_id", "{}", r.text);

    // Query parameters too.
    let r = app.get("/api/v1/messages?account_id=nope&recipient_id=1", &key).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.json["details"]["field"], "account_id", "{}", r.text);
    assert_eq!(r.json["details"]["reason"], "must be a UUID", "{}", r.text);
    let r = app.get("/api/v1/messages?recipient_id=1", &key).await;
    assert_eq!(r.json["details"]["field"], "account_id", "{}", r.text);
    assert_eq!(r.json["details"]["reason"], "is required", "{}", r.text);

    // An admin key on a merchant endpoint: told that admin keys cannot act for a merchant.
    let r = app.get("/api/v1/accounts", &app.admin_key).await;
    r.assert_error(403, "forbidden");
    assert!(r.json["message"].as_str().unwrap().contains("cannot act for a merchant"), "{}", r.text);
}

/// Found by Schemathesis once it could name a real account: values the document calls invalid
/// were answered 200 because nothing else stopped them first.
#[tokio::test]
async fn values_the_document_forbids_are_refused_for_a_real_account_too() {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (acc, _) = app.connect_account(&key, "17841400000000101", "/crm", "s3cret-s3cret-s3cret").await;
    let acc = acc["account_id"].as_str().unwrap();

    // A C1 control character is not an IGSID (the listing used to answer 200 with nothing).
    let r = app.get(&format!("/api/v1/messages?account_id={acc}&recipient_id=%C2%9C"), &key).await;
    r.assert_error(422, "validation_failed");
    assert_eq!(r.json["details"]["field"], "recipient_id", "{}", r.text);
    let r = app.get(&format!("/api/v1/messages?account_id={acc}&recipient_id=%2012%20"), &key).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // An unknown or empty delivery status filter (used to match nothing, silently).
    for status in ["", "sent", "DLQ"] {
        let r = app.get(&format!("/api/v1/webhook-deliveries?account_id={acc}&status={status}"), &key).await;
        r.assert_error(422, "validation_failed");
        assert_eq!(r.json["details"]["field"], "status", "{}", r.text);
    }
    let r = app.get(&format!("/api/v1/webhook-deliveries?account_id={acc}&status=dlq"), &key).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A JSON array is not an object, even though serde could fill a struct from it positionally.
    let r = app
        .client
        .put(format!("{}/api/v1/accounts/{acc}", app.base))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("[null, null]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["details"]["field"], "body", "{body}");
    assert_eq!(body["details"]["reason"], "must be a JSON object", "{body}");
    let r = app.put(&format!("/api/v1/accounts/{acc}"), &key, &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // DLQ filters name known reasons and event types (both the listing and the bulk redrive).
    let admin = app.admin_key.clone();
    let r = app.get("/api/v1/admin/dlq/webhooks?reason=null", &admin).await;
    r.assert_error(422, "validation_failed");
    assert_eq!(r.json["details"]["field"], "reason", "{}", r.text);
    let r = app.get("/api/v1/admin/dlq/webhooks?event_type=", &admin).await;
    assert_eq!(r.json["details"]["field"], "event_type", "{}", r.text);
    let r = app.post("/api/v1/admin/dlq/webhooks/retry", &admin, &json!({"reason": "AAA"})).await;
    r.assert_error(422, "validation_failed");
    let r = app.get("/api/v1/admin/dlq/webhooks?reason=auth_error&event_type=message.received", &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A UUID with dashes in the wrong places is not an id (the document's pattern says so too).
    let r = app.post("/api/v1/admin/dlq/webhooks/32Ea6dE1-D5D0-48dd89cB-B3Bb613FCBFE/retry", &admin, &json!({})).await;
    r.assert_error(400, "invalid_request");
}

/// A body Meta signed (or that carries the platform signature) must still look like Meta's
/// notification and fit in one Meta batch; it used to be counted as one unroutable event.
#[tokio::test]
async fn platform_signed_webhooks_must_be_meta_notifications_of_one_batch() {
    let app = TestApp::spawn().await;
    for body in [json!({}), json!(""), json!([]), json!({"object": "instagram"}), json!({"object": 1, "entry": []})] {
        let r = app.post_meta(&body).await;
        r.assert_error(400, "invalid_request");
    }
    let many: Vec<Value> = (0..1001).map(|_| Value::Null).collect();
    let r = app.post_meta(&json!({"object": "instagram", "entry": many})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app.post_meta(&json!({"object": "instagram", "entry": []})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn openapi_document_lists_every_route_with_bearer_security_and_docs_render_offline() {
    let app = TestApp::spawn().await;
    let r = app.req(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    let doc = r.json;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/v1/accounts",
        "/api/v1/accounts/{account_id}",
        "/api/v1/admin/merchants",
        "/api/v1/admin/merchants/{merchant_id}/api-keys",
        "/api/v1/admin/api-keys/{api_key_id}",
    ] {
        assert!(doc["paths"].get(p).is_some(), "missing {p}");
    }
    assert_eq!(doc["info"]["title"], "Instagram Message Router API");
    assert_eq!(doc["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"], "bearer");
    assert_eq!(doc["security"], json!([{"ApiKeyAuth": []}]), "applied globally");
    // The limits the handlers check are in the schemas, and creating operations link onwards.
    let send = &doc["components"]["schemas"]["SendMessageRequest"];
    assert_eq!(send["properties"]["message"]["maxLength"], 1000);
    assert_eq!(send["properties"]["quick_replies"]["maxItems"], 13);
    assert!(send["anyOf"].is_array(), "message or attachment is required");
    let links = &doc["paths"]["/api/v1/accounts"]["post"]["responses"]["201"]["links"];
    assert_eq!(links["GetAccount"]["parameters"]["account_id"], "$response.body#/account_id");
    let retry = &doc["paths"]["/api/v1/admin/dlq/webhooks"]["get"]["responses"]["200"]["links"]["RetryDelivery"];
    assert_eq!(retry["operationId"], "v1.admin.dlq.retry");
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    // Every error code is listed, so generated clients get an enum to branch on.
    let error = &doc["components"]["schemas"]["ErrorBody"]["properties"]["error"];
    assert_eq!(error["$ref"], "#/components/schemas/ErrorCode", "{error}");
    let codes: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    let all: Vec<&str> = router_api::error::ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, all);
    // Every operation has an operationId and declares the bearer scheme.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["operationId"].is_string(), "{method} {path}");
            assert!(op["security"].is_array(), "{method} {path} lacks security");
            let open = op["security"].as_array().unwrap().iter().all(|s| s.as_object().is_some_and(|o| o.is_empty()));
            assert_eq!(
                open,
                path.starts_with("/webhooks/") || path.starts_with("/oauth/"),
                "{method} {path}: only Meta's webhooks are unauthenticated"
            );
        }
    }

    let r = app.req(Method::GET, "/docs/", None, None).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("swagger-ui"), "{}", &r.text[..r.text.len().min(300)]);
    assert!(!r.text.contains("https://"), "docs page must not load assets from the internet");
    let css = app.req(Method::GET, "/docs/swagger-ui.css", None, None).await;
    assert_eq!(css.status, 200);
    let js = app.req(Method::GET, "/docs/swagger-initializer.js", None, None).await;
    assert_eq!(js.status, 200);
    assert!(js.text.contains("/openapi.json"));
}

#[tokio::test]
async fn cors_allows_only_listed_origins() {
    let app = TestApp::spawn_with(|v| {
        v.insert("CORS_ALLOWED_ORIGINS".into(), "https://crm.example.com".into());
    })
    .await;
    let ok = app
        .client
        .request(Method::OPTIONS, format!("{}/api/v1/accounts", app.base))
        .header("origin", "https://crm.example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.headers().get("access-control-allow-origin").unwrap(), "https://crm.example.com");
    let bad = app
        .client
        .request(Method::OPTIONS, format!("{}/api/v1/accounts", app.base))
        .header("origin", "https://evil.example.net")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(bad.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cached_key_lookups_still_honour_revocation_at_once_and_outside_changes_within_the_ttl() {
    let app = TestApp::spawn_with(|v| {
        v.insert("API_KEY_CACHE_SECS".into(), "1".into());
    })
    .await;
    let (merchant, key) = app.merchant_with_key("Acme").await;
    assert_eq!(app.get("/api/v1/accounts", &key).await.status, 200);
    // Revoked through the API: refused on the next request.
    let id = app.key_id(&key).await;
    app.delete(&format!("/api/v1/admin/api-keys/{id}"), &app.admin_key).await;
    app.get("/api/v1/accounts", &key).await.assert_error(401, "unauthorized");
    // Expired behind the API's back (SQL, or another replica): refused once the entry ages out.
    let other = app.create_key(merchant, &["accounts:read"]).await;
    assert_eq!(app.get("/api/v1/accounts", &other).await.status, 200);
    sqlx::query("update api_keys set expires_at = now() - interval '1 second' where api_key_id = $1")
        .bind(app.key_id(&other).await)
        .execute(&app.db)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.get("/api/v1/accounts", &other).await.assert_error(401, "unauthorized");
}

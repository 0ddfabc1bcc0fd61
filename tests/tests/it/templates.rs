//! Message templates through the API: CRUD and versions, sends by template to the fake Graph API,
//! the 422s that name variables, tenant isolation and idempotency.

use router_tests::{Resp, TestApp};
use serde_json::{Value, json};
use time::OffsetDateTime;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const IG: &str = "17841400000000077";
const CUSTOMER: &str = "1234567890123477";
const SHIPPED: &str = "Hi {{first_name}}, order {{ order_id }} has shipped";

struct Setup {
    app: TestApp,
    key: String,
    account_id: String,
}

async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, IG, "acme", SECRET).await;
    let account_id = account["account_id"].as_str().unwrap().to_owned();
    app.open_window(&account_id, CUSTOMER, OffsetDateTime::now_utc()).await;
    Setup { app, key, account_id }
}

/// A definition of the shipping template (the body of a `PUT`).
fn definition(body: &str) -> Value {
    json!({
        "body": body,
        "variables": [{"name": "first_name", "type": "string", "max_length": 40}, {"name": "order_id", "type": "integer"}],
        "quick_replies": [{"title": "Track", "payload": "TRACK"}],
    })
}

/// The body of a `POST` creating `order_shipped`.
fn shipped(body: &str) -> Value {
    let mut v = definition(body);
    v["name"] = json!("order_shipped");
    v
}

impl Setup {
    async fn send(&self, extra: Value) -> Resp {
        let mut body = json!({"account_id": self.account_id, "recipient_id": CUSTOMER});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        self.app.post("/api/v1/messages/send", &self.key, &body).await
    }

    async fn stored_messages(&self) -> i64 {
        sqlx::query_scalar("select count(*) from outbound_messages").fetch_one(&self.app.db).await.unwrap()
    }
}

#[tokio::test]
async fn a_template_send_renders_its_variables_and_the_message_records_the_version() {
    let s = setup().await;
    let r = s.app.post("/api/v1/templates", &s.key, &shipped(SHIPPED)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["version"], 1);
    assert_eq!(r.json["variables"][1], json!({"name": "order_id", "type": "integer"}));

    let vars = json!({"first_name": "Ana", "order_id": 1042});
    let r = s.send(json!({"template": "order_shipped", "variables": vars})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let first = r.json["message_id"].as_str().unwrap().to_owned();

    // Version 2; the next send uses it, and version 1 stays sendable by number.
    let r = s
        .app
        .put("/api/v1/templates/order_shipped", &s.key, &definition("{{first_name}}: #{{order_id}} is on its way"))
        .await;
    assert_eq!((r.status, r.json["version"].clone()), (200, json!(2)), "{}", r.text);
    let second = s.send(json!({"template": "order_shipped", "variables": vars})).await;
    let pinned = s.send(json!({"template": "order_shipped", "template_version": 1, "variables": vars})).await;
    assert_eq!((second.status, pinned.status), (202, 202), "{} {}", second.text, pinned.text);

    assert_eq!(s.app.sender().run_until_idle().await.unwrap(), 3);
    let sent = s.app.graph.sent();
    let texts: Vec<&str> = sent.iter().map(|m| m.body["message"]["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Hi Ana, order 1042 has shipped", "Ana: #1042 is on its way", "Hi Ana, order 1042 has shipped"]);
    assert_eq!(
        sent[0].body["message"]["quick_replies"][0],
        json!({"content_type": "text", "title": "Track", "payload": "TRACK"})
    );

    let st = s.app.status_of(&s.key, &first).await;
    assert_eq!(
        (st["status"].as_str(), &st["template"]),
        (Some("delivered"), &json!({"name": "order_shipped", "version": 1}))
    );
    let pinned_id = pinned.json["message_id"].as_str().unwrap();
    assert_eq!(s.app.status_of(&s.key, pinned_id).await["template"]["version"], 1);
    let second_id = second.json["message_id"].as_str().unwrap();
    assert_eq!(s.app.status_of(&s.key, second_id).await["template"]["version"], 2);
    // A message written by the client names no template.
    let plain = s.send(json!({"message": "plain"})).await;
    assert!(s.app.status_of(&s.key, plain.json["message_id"].as_str().unwrap()).await["template"].is_null());

    // The stored text is the rendered one (what the status webhooks and the echo matching see).
    let stored: String = sqlx::query_scalar("select message_text from outbound_messages where message_id = $1::uuid")
        .bind(&first)
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    assert_eq!(stored, "Hi Ana, order 1042 has shipped");
}

#[tokio::test]
async fn variables_that_do_not_fit_the_template_are_422s_naming_them_and_nothing_is_stored() {
    let s = setup().await;
    assert_eq!(s.app.post("/api/v1/templates", &s.key, &shipped(SHIPPED)).await.status, 201);

    let r = s.send(json!({"template": "order_shipped", "variables": {"order_id": 7, "coupon": "X", "Zz": 1}})).await;
    r.assert_error(422, "validation_failed");
    assert_eq!(r.json["details"]["missing"], json!(["first_name"]));
    assert_eq!(r.json["details"]["unexpected"], json!(["Zz", "coupon"]));
    assert_eq!(r.json["message"], "variables: missing first_name; not in the template: Zz, coupon");

    let r = s.send(json!({"template": "order_shipped", "variables": {"first_name": "Ana", "order_id": "7"}})).await;
    r.assert_error(422, "validation_failed");
    assert_eq!(r.json["details"]["field"], "variables.order_id");
    let r =
        s.send(json!({"template": "order_shipped", "variables": {"first_name": "x".repeat(41), "order_id": 7}})).await;
    assert_eq!(r.json["details"]["field"], "variables.first_name", "{}", r.text);

    // A version is a whole number; JSON's `1.0` counts as one, `1.5` does not.
    let r = s.send(json!({"template": "order_shipped", "template_version": 1.5, "variables": {}})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.json["details"]["field"], "template_version");
    let r =
        s.send(json!({"template": "order_shipped", "template_version": 1.0, "variables": {"first_name": "A"}})).await;
    assert_eq!((r.status, r.json["details"]["missing"].clone()), (422, json!(["order_id"])), "{}", r.text);
    let r = s.send(json!({"template": "no_such", "variables": {}})).await;
    r.assert_error(422, "validation_failed");
    assert_eq!(r.json["details"]["field"], "template");
    let r = s.send(json!({"template": "order_shipped", "template_version": 9, "variables": {}})).await;
    assert_eq!((r.status, r.json["details"]["field"].clone()), (422, json!("template")));
    let r = s.send(json!({"template": "order_shipped", "message": "both", "variables": {}})).await;
    assert_eq!((r.status, r.json["details"]["field"].clone()), (422, json!("message")));
    let r = s.send(json!({"message": "no template", "variables": {"a": 1}})).await;
    assert_eq!((r.status, r.json["details"]["field"].clone()), (422, json!("variables")));

    // The rendered text obeys the message limits: 1 000 characters.
    let long = json!({"name": "long", "body": format!("{}{{{{x}}}}", "a".repeat(990)), "variables": [{"name": "x", "type": "string"}]});
    assert_eq!(s.app.post("/api/v1/templates", &s.key, &long).await.status, 201);
    let r = s.send(json!({"template": "long", "variables": {"x": "b".repeat(11)}})).await;
    r.assert_error(422, "validation_failed");
    assert!(r.json["message"].as_str().unwrap().contains("1001 characters"), "{}", r.text);
    assert_eq!(s.send(json!({"template": "long", "variables": {"x": "b".repeat(10)}})).await.status, 202);

    // A flood of unexpected names gets a bounded error.
    let many: serde_json::Map<String, Value> = (0..2000).map(|i| (format!("v{i}"), json!(1))).collect();
    let r = s.send(json!({"template": "order_shipped", "variables": many})).await;
    assert_eq!(r.json["details"]["unexpected"].as_array().unwrap().len(), 20);
    assert!(r.text.len() < 2048, "{} bytes", r.text.len());

    assert_eq!(s.stored_messages().await, 1, "only the valid send is stored");
}

#[tokio::test]
async fn definitions_are_checked_and_every_write_is_a_new_version() {
    let s = setup().await;
    let bad = [
        (
            json!({"name": "t", "body": "Hi {{first_name}} {{coupon}}", "variables": [{"name": "first_name", "type": "string"}]}),
            "body",
        ),
        (json!({"name": "t", "body": "Hi", "variables": [{"name": "unused", "type": "string"}]}), "variables"),
        (json!({"name": "t", "body": "Hi {{x", "variables": []}), "body"),
        (json!({"name": "t", "body": "{{n}}", "variables": [{"name": "n", "type": "date"}]}), "variables[0].type"),
        (json!({"name": "Bad Name", "body": "Hi"}), "name"),
        (json!({"name": "t", "body": "   "}), "body"),
        (json!({"name": "t", "body": "Hi", "attachment": {"type": "image", "url": "ftp://x"}}), "attachment.url"),
        (json!({"name": "t", "body": "Hi", "quick_replies": []}), "quick_replies"),
    ];
    for (body, field) in bad {
        let r = s.app.post("/api/v1/templates", &s.key, &body).await;
        r.assert_error(422, "validation_failed");
        assert_eq!(r.json["details"]["field"], field, "{body}: {}", r.text);
    }

    assert_eq!(s.app.post("/api/v1/templates", &s.key, &shipped(SHIPPED)).await.status, 201);
    s.app.post("/api/v1/templates", &s.key, &shipped(SHIPPED)).await.assert_error(409, "template_exists");
    s.app.put("/api/v1/templates/nope", &s.key, &json!({"body": "x"})).await.assert_error(404, "not_found");
    // The name is the path's: a create needs one, an update cannot carry one.
    let r = s.app.post("/api/v1/templates", &s.key, &json!({"body": "Hi"})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.json["details"]["field"], "name", "{}", r.text);
    let r = s.app.put("/api/v1/templates/order_shipped", &s.key, &json!({"name": "other", "body": "x"})).await;
    r.assert_error(400, "invalid_request");

    // Concurrent updates each get their own version.
    let puts = (0..6).map(|i| {
        let b = json!({"body": format!("v{i} {{{{first_name}}}} {{{{order_id}}}}"),
                       "variables": [{"name": "first_name", "type": "string"}, {"name": "order_id", "type": "integer"}]});
        let (app, key) = (&s.app, &s.key);
        async move { app.put("/api/v1/templates/order_shipped", key, &b).await }
    });
    let mut versions: Vec<i64> =
        futures::future::join_all(puts).await.iter().map(|r| r.json["version"].as_i64().unwrap()).collect();
    versions.sort_unstable();
    assert_eq!(versions, [2, 3, 4, 5, 6, 7]);
    let r = s.app.get("/api/v1/templates/order_shipped/versions", &s.key).await;
    let listed: Vec<i64> = r.json["data"].as_array().unwrap().iter().map(|t| t["version"].as_i64().unwrap()).collect();
    assert_eq!(listed, [7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(s.app.get("/api/v1/templates/order_shipped?version=1", &s.key).await.json["body"], SHIPPED);
    assert_eq!(s.app.get("/api/v1/templates/order_shipped", &s.key).await.json["version"], 7);

    // Delete covers every version; the name can start again, its numbering continues.
    assert_eq!(s.app.delete("/api/v1/templates/order_shipped", &s.key).await.status, 204);
    s.app.get("/api/v1/templates/order_shipped", &s.key).await.assert_error(404, "not_found");
    s.app.delete("/api/v1/templates/order_shipped", &s.key).await.assert_error(404, "not_found");
    let r = s.send(json!({"template": "order_shipped", "variables": {"first_name": "A", "order_id": 1}})).await;
    assert_eq!((r.status, r.json["details"]["field"].clone()), (422, json!("template")));
    let r = s.app.post("/api/v1/templates", &s.key, &shipped(SHIPPED)).await;
    assert_eq!((r.status, r.json["version"].clone()), (201, json!(8)), "{}", r.text);
}

#[tokio::test]
async fn the_list_pages_by_name_and_shows_each_templates_latest_version() {
    let s = setup().await;
    for name in ["c_three", "a_one", "b_two"] {
        let r = s.app.post("/api/v1/templates", &s.key, &json!({"name": name, "body": format!("{name} v1")})).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    assert_eq!(s.app.put("/api/v1/templates/b_two", &s.key, &json!({"body": "b_two v2"})).await.status, 200);
    let page = s.app.get("/api/v1/templates?limit=2", &s.key).await;
    let names: Vec<&str> = page.json["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a_one", "b_two"]);
    assert_eq!(page.json["data"][1]["body"], "b_two v2");
    let cursor = page.json["next_cursor"].as_str().unwrap();
    let rest = s.app.get(&format!("/api/v1/templates?limit=2&cursor={cursor}"), &s.key).await;
    assert_eq!(rest.json["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest.json["data"][0]["name"], "c_three");
    assert!(rest.json["next_cursor"].is_null());
    s.app.get("/api/v1/templates?cursor=%25%25", &s.key).await.assert_error(422, "validation_failed");
}

#[tokio::test]
async fn another_merchants_templates_cannot_be_read_changed_or_sent_and_limited_keys_only_read() {
    let s = setup().await;
    assert_eq!(s.app.post("/api/v1/templates", &s.key, &shipped(SHIPPED)).await.status, 201);
    let (other_merchant, other) = s.app.merchant_with_key("Globex").await;
    s.app.get("/api/v1/templates/order_shipped", &other).await.assert_error(404, "not_found");
    s.app.put("/api/v1/templates/order_shipped", &other, &definition(SHIPPED)).await.assert_error(404, "not_found");
    s.app.delete("/api/v1/templates/order_shipped", &other).await.assert_error(404, "not_found");
    assert!(s.app.get("/api/v1/templates", &other).await.json["data"].as_array().unwrap().is_empty());
    // The same name is free in another merchant, and its version 1 is its own.
    let r = s.app.post("/api/v1/templates", &other, &shipped("Globex: {{first_name}} {{order_id}}")).await;
    assert_eq!((r.status, r.json["version"].clone()), (201, json!(1)));
    assert_eq!(s.app.get("/api/v1/templates/order_shipped", &s.key).await.json["body"], SHIPPED);
    // Under the API's role, RLS alone hides the first merchant's rows (no merchant filter here).
    let mut tx = s.app.db.begin().await.unwrap();
    sqlx::query("set local role router_app").execute(&mut *tx).await.unwrap();
    sqlx::query("select set_config('app.merchant_id', $1, true)")
        .bind(other_merchant.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let bodies: Vec<String> =
        sqlx::query_scalar("select body from message_templates").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(bodies, ["Globex: {{first_name}} {{order_id}}"]);
    tx.rollback().await.unwrap();

    // A key limited to some accounts may send and read templates, not change them.
    let merchant: uuid::Uuid = sqlx::query_scalar("select merchant_id from accounts where account_id = $1::uuid")
        .bind(&s.account_id)
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    let r = s
        .app
        .post(
            &format!("/api/v1/admin/merchants/{merchant}/api-keys"),
            &s.app.admin_key,
            &json!({"name": "limited", "scopes": ["messages:send", "messages:read"], "account_ids": [s.account_id]}),
        )
        .await;
    let limited = r.json["key"].as_str().unwrap();
    s.app
        .post("/api/v1/templates", limited, &json!({"name": "mine", "body": "x"}))
        .await
        .assert_error(403, "forbidden");
    s.app.delete("/api/v1/templates/order_shipped", limited).await.assert_error(403, "forbidden");
    assert_eq!(s.app.get("/api/v1/templates/order_shipped", limited).await.status, 200);
    let send = json!({"account_id": s.account_id, "recipient_id": CUSTOMER, "template": "order_shipped",
                      "variables": {"first_name": "Ana", "order_id": 1}});
    assert_eq!(s.app.post("/api/v1/messages/send", limited, &send).await.status, 202);
    // A read-only key cannot write.
    let reader = s.app.create_key(merchant, &["messages:read"]).await;
    s.app.put("/api/v1/templates/order_shipped", &reader, &definition(SHIPPED)).await.assert_error(403, "forbidden");
}

#[tokio::test]
async fn a_template_with_buttons_is_sent_as_a_button_template_of_its_rendered_text() {
    let s = setup().await;
    let def = json!({"name": "help", "body": "Hi {{first_name}}, how can we help?",
                     "variables": [{"name": "first_name", "type": "string"}],
                     "buttons": [{"type": "postback", "title": "Talk to us", "payload": "HUMAN"},
                                 {"type": "web_url", "title": "FAQ", "url": "https://shop.example/faq"}]});
    let r = s.app.post("/api/v1/templates", &s.key, &def).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["buttons"][0]["payload"], "HUMAN");
    let r = s.send(json!({"template": "help", "variables": {"first_name": "Ana"}})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    s.app.sender().run_until_idle().await.unwrap();
    let sent = s.app.graph.sent();
    assert_eq!(sent.len(), 1, "one call: the text rides inside the template");
    assert_eq!(
        sent[0].body["message"]["attachment"]["payload"],
        json!({"template_type": "button", "text": "Hi Ana, how can we help?", "buttons": def["buttons"]})
    );
    // The button template's text limit is 640 characters, rendered.
    let r = s.send(json!({"template": "help", "variables": {"first_name": "x".repeat(620)}})).await;
    r.assert_error(422, "validation_failed");
    assert!(r.json["message"].as_str().unwrap().contains("1–640"), "{}", r.text);
    // Buttons take no quick replies or attachments.
    let mut bad = def.clone();
    bad["name"] = json!("help2");
    bad["quick_replies"] = json!([{"title": "Yes", "payload": "Y"}]);
    let r = s.app.post("/api/v1/templates", &s.key, &bad).await;
    assert_eq!((r.status, r.json["details"]["field"].clone()), (422, json!("quick_replies")));
}

#[tokio::test]
async fn a_template_send_is_idempotent_on_its_variables() {
    let s = setup().await;
    assert_eq!(s.app.post("/api/v1/templates", &s.key, &shipped(SHIPPED)).await.status, 201);
    let send = |order: i64| json!({"template": "order_shipped", "variables": {"first_name": "Ana", "order_id": order}, "idempotency_key": "ship-1"});
    let first = s.send(send(1)).await;
    assert_eq!(first.status, 202, "{}", first.text);
    // A new version in between does not change the replay: the request is the same.
    assert_eq!(
        s.app.put("/api/v1/templates/order_shipped", &s.key, &definition("{{first_name}} {{order_id}}")).await.status,
        200
    );
    let again = s.send(send(1)).await;
    assert_eq!((again.status, again.header("idempotent-replayed")), (202, Some("true")));
    assert_eq!(again.json["message_id"], first.json["message_id"]);
    s.send(send(2)).await.assert_error(409, "idempotency_key_reused");
    assert_eq!(s.stored_messages().await, 1);
}

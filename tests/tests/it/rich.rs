//! Rich messages through the API and the fake Graph API: generic and button templates, the heart
//! sticker, their postbacks, sender actions and reactions, ice breakers and the persistent menu.

use std::time::{Duration, Instant};

use router_tests::router_fakes::graph::{Endpoint, Scripted};
use router_tests::router_fakes::webhooks as meta;
use router_tests::{Resp, TestApp};
use serde_json::{Value, json};
use time::OffsetDateTime;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const IG: &str = "17841400000000088";
const CUSTOMER: &str = "1234567890123488";

struct Setup {
    app: TestApp,
    key: String,
    account_id: String,
}

async fn setup_with(adjust: impl FnOnce(&mut std::collections::HashMap<String, String>)) -> Setup {
    let app = TestApp::spawn_with(adjust).await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, IG, "acme", SECRET).await;
    let account_id = account["account_id"].as_str().unwrap().to_owned();
    app.open_window(&account_id, CUSTOMER, OffsetDateTime::now_utc()).await;
    Setup { app, key, account_id }
}

async fn setup() -> Setup {
    setup_with(|_| {}).await
}

fn cards() -> Value {
    json!({"elements": [
        {"title": "Summer hat", "subtitle": "Straw, one size", "image_url": "https://cdn.example/hat.png",
         "default_action_url": "https://shop.example/hat",
         "buttons": [{"type": "web_url", "title": "Buy", "url": "https://shop.example/hat/buy"},
                     {"type": "postback", "title": "More like this", "payload": "MORE:hat"}]},
        {"title": "Beach towel", "buttons": [{"type": "postback", "title": "Tell me more", "payload": "MORE:towel"}]}
    ]})
}

impl Setup {
    async fn send(&self, extra: Value) -> Resp {
        let mut body = json!({"account_id": self.account_id, "recipient_id": CUSTOMER});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        self.app.post("/api/v1/messages/send", &self.key, &body).await
    }

    async fn action(&self, extra: Value) -> Resp {
        let mut body = json!({"account_id": self.account_id, "recipient_id": CUSTOMER});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        self.app.post("/api/v1/messages/actions", &self.key, &body).await
    }

    fn graph_calls(&self) -> Vec<Value> {
        self.app.graph.requests().into_iter().filter(|r| r.path == format!("/{IG}/messages")).map(|r| r.body).collect()
    }
}

#[tokio::test]
async fn cards_buttons_and_the_heart_reach_instagram_in_metas_shapes_and_a_card_postback_reaches_the_crm() {
    let s = setup().await;
    let carousel = s.send(json!({"generic_template": cards(), "message": "Picked for you"})).await;
    let buttons = s
        .send(json!({"button_template": {"text": "Need help with your order?", "buttons": [
            {"type": "postback", "title": "Talk to us", "payload": "HUMAN"},
            {"type": "web_url", "title": "Track", "url": "https://shop.example/track"}]}}))
        .await;
    let heart = s.send(json!({"like_heart": true})).await;
    for r in [&carousel, &buttons, &heart] {
        assert_eq!(r.status, 202, "{}", r.text);
    }
    assert_eq!(s.app.sender().run_until_idle().await.unwrap(), 3);

    let sent = s.app.graph.sent();
    assert_eq!(sent.len(), 4, "the carousel, its note, the button template, the heart");
    let card = &sent[0].body["message"]["attachment"];
    assert_eq!((card["type"].as_str(), card["payload"]["template_type"].as_str()), (Some("template"), Some("generic")));
    assert_eq!(
        card["payload"]["elements"][0]["default_action"],
        json!({"type": "web_url", "url": "https://shop.example/hat"})
    );
    assert_eq!(card["payload"]["elements"][1]["buttons"][0]["payload"], "MORE:towel");
    assert_eq!(sent[1].body["message"]["text"], "Picked for you");
    assert_eq!(sent[2].body["message"]["attachment"]["payload"]["template_type"], "button");
    assert_eq!(sent[2].body["message"]["attachment"]["payload"]["buttons"][1]["url"], "https://shop.example/track");
    assert_eq!(sent[3].body["message"], json!({"attachment": {"type": "like_heart"}}));
    for r in [&carousel, &buttons, &heart] {
        let st = s.app.status_of(&s.key, r.json["message_id"].as_str().unwrap()).await;
        assert_eq!(st["status"], "delivered", "{st}");
    }

    // The customer taps a card's button: Meta posts a postback, the CRM gets its payload.
    let t = OffsetDateTime::now_utc();
    let r = s
        .app
        .post_meta(&meta::envelope(IG, vec![meta::postback(IG, CUSTOMER, "m-pb", "More like this", "MORE:hat", t)]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.app.deliverer().run_until_idle().await.unwrap();
    let got = s.app.crm.received_on("acme");
    let pb = got.iter().find(|r| r.json["message_type"] == "postback").expect("a postback delivery");
    assert_eq!((pb.event(), pb.json["payload"].as_str()), ("message.received", Some("MORE:hat")));
}

#[tokio::test]
async fn structured_fields_are_checked_with_metas_limits_and_nothing_is_stored() {
    let s = setup().await;
    let card = |over: Value| {
        let mut c = json!({"title": "Hat"});
        c.as_object_mut().unwrap().extend(over.as_object().unwrap().clone());
        json!({"generic_template": {"elements": [c]}})
    };
    let postback = json!({"type": "postback", "title": "Go", "payload": "P"});
    let cases = [
        (json!({"generic_template": {"elements": vec![json!({"title": "x"}); 11]}}), "generic_template.elements"),
        (json!({"generic_template": {"elements": []}}), "generic_template.elements"),
        (card(json!({"title": "t".repeat(81)})), "generic_template.elements[0].title"),
        (card(json!({"subtitle": " "})), "generic_template.elements[0].subtitle"),
        (card(json!({"image_url": "ftp://cdn.example/h.png"})), "generic_template.elements[0].image_url"),
        (card(json!({"buttons": vec![postback.clone(); 4]})), "generic_template.elements[0].buttons"),
        (
            card(json!({"buttons": [{"type": "web_url", "title": "Go", "url": "javascript:alert(1)"}]})),
            "generic_template.elements[0].buttons[0].url",
        ),
        (
            card(json!({"buttons": [{"type": "postback", "title": "a title over twenty chars", "payload": "P"}]})),
            "generic_template.elements[0].buttons[0].title",
        ),
        (json!({"button_template": {"text": "Hi", "buttons": []}}), "button_template.buttons"),
        (json!({"button_template": {"text": "x".repeat(641), "buttons": [postback]}}), "button_template.text"),
        (
            json!({"like_heart": true, "attachment": {"type": "image", "url": "https://cdn.example/a.png"}}),
            "like_heart",
        ),
        (json!({"generic_template": cards(), "like_heart": true}), "like_heart"),
        (json!({"like_heart": false}), "message"),
    ];
    for (body, field) in cases {
        let r = s.send(body.clone()).await;
        r.assert_error(422, "validation_failed");
        assert_eq!(r.json["details"]["field"], field, "{body}: {}", r.text);
    }
    // An unknown button type or field is a malformed body.
    let r = s.send(json!({"button_template": {"text": "Hi", "buttons": [{"type": "call", "title": "Call"}]}})).await;
    r.assert_error(400, "invalid_request");
    let n: i64 = sqlx::query_scalar("select count(*) from outbound_messages").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(n, 0);
}

/// A card send whose call timed out after Instagram delivered it: the template's echo (type
/// `template`, no text) settles it, so the customer gets one carousel.
#[tokio::test]
async fn an_ambiguous_card_send_is_settled_by_its_echo_without_a_second_carousel() {
    let s = setup_with(|v| {
        v.insert("GRAPH_TIMEOUT_SECS".into(), "1".into());
        v.insert("SEND_RECONCILE_WINDOW_SECS".into(), "30".into());
    })
    .await;
    s.app.graph.emit_echoes_to(Some(format!("{}/webhooks/instagram", s.app.base)), Duration::ZERO);
    s.app.graph.script(Endpoint::Send, Scripted::DeliverThenTimeout { millis: 2500 }, 1);
    let r = s.send(json!({"generic_template": cards()})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let mid = r.json["message_id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let app = &s.app;
    assert!(
        app.drain_until(Duration::from_secs(20), async || app.status_of(&s.key, &mid).await["status"] == "delivered")
            .await,
        "{}",
        app.status_of(&s.key, &mid).await
    );
    assert!(started.elapsed() < Duration::from_secs(20), "settled by the echo, not the window");
    assert_eq!(s.app.graph.sent().len(), 1, "one carousel at Instagram");
    assert_eq!(s.graph_calls().len(), 1, "no second call");
}

#[tokio::test]
async fn sender_actions_and_reactions_reach_instagram_and_its_refusals_are_named() {
    let s = setup().await;
    assert_eq!(s.action(json!({"action": "typing_on"})).await.status, 204);
    let r = s.action(json!({"action": "react", "instagram_message_id": "m-customer-1", "reaction": "love"})).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(s.action(json!({"action": "unreact", "instagram_message_id": "m-customer-1"})).await.status, 204);
    let calls = s.graph_calls();
    assert_eq!(calls[0], json!({"recipient": {"id": CUSTOMER}, "sender_action": "typing_on"}));
    assert_eq!(calls[1]["payload"], json!({"message_id": "m-customer-1", "reaction": "love"}));
    assert_eq!(calls[2]["payload"], json!({"message_id": "m-customer-1"}));
    assert!(s.app.graph.sent().is_empty(), "actions are not messages");

    let r = s.action(json!({"action": "react", "instagram_message_id": "m-1"})).await;
    assert_eq!((r.status, r.json["details"]["field"].clone()), (422, json!("reaction")));
    let r = s.action(json!({"action": "typing_on", "reaction": "love"})).await;
    assert_eq!((r.status, r.json["details"]["field"].clone()), (422, json!("reaction")));
    let r = s.action(json!({"action": "wave"})).await;
    assert_eq!((r.status, r.json["details"]["field"].clone()), (422, json!("action")));

    // Meta refuses (the window closed): 400 with Meta's codes. Meta down: 503.
    s.app.graph.script(Endpoint::Send, Scripted::code(10, Some(2_534_022)), 1);
    let r = s.action(json!({"action": "mark_seen"})).await;
    r.assert_error(400, "instagram_refused");
    assert_eq!(
        (r.json["details"]["instagram_error_code"].as_i64(), r.json["details"]["instagram_error_subcode"].as_i64()),
        (Some(10), Some(2_534_022))
    );
    s.app.graph.script(Endpoint::Send, Scripted::Raw { status: 502, body: "<html>bad gateway</html>".into() }, 1);
    s.action(json!({"action": "typing_off"})).await.assert_error(503, "service_unavailable");

    // Another merchant cannot act through this account.
    let (_, other) = s.app.merchant_with_key("Globex").await;
    let body = json!({"account_id": s.account_id, "recipient_id": CUSTOMER, "action": "typing_on"});
    s.app.post("/api/v1/messages/actions", &other, &body).await.assert_error(404, "not_found");
}

#[tokio::test]
async fn ice_breakers_and_the_persistent_menu_are_set_read_and_removed_on_instagram() {
    let s = setup().await;
    let path = |what: &str| format!("/api/v1/accounts/{}/{what}", s.account_id);
    let breakers = json!({"ice_breakers": [{"question": "Where is my order?", "payload": "ORDER"},
                                           {"question": "Do you ship abroad?", "payload": "SHIPPING"}]});
    let r = s.app.put(&path("ice-breakers"), &s.key, &breakers).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Meta's shape: one default locale with the questions as call_to_actions.
    assert_eq!(
        s.app.graph.profile(IG)["ice_breakers"],
        json!([{"locale": "default", "call_to_actions": breakers["ice_breakers"]}])
    );
    assert_eq!(s.app.get(&path("ice-breakers"), &s.key).await.json, breakers);

    let menu = json!({"items": [{"type": "postback", "title": "Talk to us", "payload": "HUMAN"},
                                {"type": "web_url", "title": "Shop", "url": "https://shop.example"}]});
    assert_eq!(s.app.put(&path("persistent-menu"), &s.key, &menu).await.status, 200);
    assert_eq!(s.app.get(&path("persistent-menu"), &s.key).await.json, menu);

    assert_eq!(s.app.delete(&path("ice-breakers"), &s.key).await.status, 204);
    assert_eq!(s.app.get(&path("ice-breakers"), &s.key).await.json, json!({"ice_breakers": []}));
    assert_eq!(s.app.get(&path("persistent-menu"), &s.key).await.json, menu, "the menu stays");

    let five = json!({"ice_breakers": vec![json!({"question": "Q?", "payload": "P"}); 5]});
    let r = s.app.put(&path("ice-breakers"), &s.key, &five).await;
    assert_eq!((r.status, r.json["details"]["field"].clone()), (422, json!("ice_breakers")));
    let r = s.app.put(&path("persistent-menu"), &s.key, &json!({"items": []})).await;
    assert_eq!((r.status, r.json["details"]["field"].clone()), (422, json!("items")));
    // Writing needs accounts:write; another merchant sees nothing.
    let merchant: uuid::Uuid = sqlx::query_scalar("select merchant_id from accounts where account_id = $1::uuid")
        .bind(&s.account_id)
        .fetch_one(&s.app.db)
        .await
        .unwrap();
    let reader = s.app.create_key(merchant, &["accounts:read"]).await;
    assert_eq!(s.app.get(&path("persistent-menu"), &reader).await.status, 200);
    s.app.put(&path("persistent-menu"), &reader, &menu).await.assert_error(403, "forbidden");
    let (_, other) = s.app.merchant_with_key("Globex").await;
    s.app.get(&path("ice-breakers"), &other).await.assert_error(404, "not_found");
}

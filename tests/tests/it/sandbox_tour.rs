//! The README's five-minute tour, as a test: the demo CRM wires the sandbox by itself, the
//! customer simulator plays the customer (DM, read, reaction, postback), the CRM verifies both
//! signatures, shows the events on its page and answers through the REST API, and a broken CRM
//! ends in the dead-letter queue. The same pieces `scripts/dev-up.sh` starts.

use std::time::Duration;

use router_tests::TestApp;
use router_tests::router_fakes::demo_crm::{DemoCrm, Event, SetupConfig, setup};
use router_tests::router_fakes::simulator::{Simulate, simulate};

const IG: &str = "17841400000000001";

async fn start_demo(app: &TestApp, state_file: &std::path::Path) -> (DemoCrm, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let wiring = setup(&SetupConfig {
        router_url: app.base.clone(),
        sandbox_graph_url: app.graph.url(),
        admin_key: app.admin_key.clone(),
        ig_id: IG.into(),
        username: "sandbox_shop".into(),
        hooks_url: format!("{url}/hooks"),
        state_file: state_file.to_owned(),
    })
    .await
    .expect("the demo CRM wires the sandbox");
    let crm = DemoCrm::new(&app.base, wiring);
    let router = crm.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (crm, url)
}

fn customer(app: &TestApp, kind: &str, text: Option<&str>) -> Simulate {
    Simulate {
        target: format!("{}/webhooks/instagram", app.base),
        ig_id: IG.into(),
        sender_id: "5550001".into(),
        kind: kind.into(),
        text: text.map(str::to_owned),
        emoji: None,
        payload: None,
        mid: None,
    }
}

async fn wait_event(app: &TestApp, crm: &DemoCrm, event: &str) -> Event {
    let mut found = None;
    app.drain_until(Duration::from_secs(10), async || {
        found = crm.events().into_iter().find(|e| e.event == event);
        found.is_some()
    })
    .await;
    found.unwrap_or_else(|| {
        panic!("no {event} at the demo CRM; got {:?}", crm.events().iter().map(|e| &e.event).collect::<Vec<_>>())
    })
}

#[tokio::test]
async fn the_readme_tour_runs_end_to_end_without_hand_copying() {
    let app = TestApp::spawn().await;
    let dir = std::env::temp_dir().join(format!("demo-crm-{}", uuid::Uuid::new_v4().simple()));
    let state = dir.join("demo-crm.json");
    let (crm, url) = start_demo(&app, &state).await;
    let wiring: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(wiring["api_key"].as_str().unwrap().starts_with("router_test_"), "the sandbox story uses a test key");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&state).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the state file holds a key: owner-only");
    let http = reqwest::Client::new();

    // A customer DM reaches the CRM, both signatures verified.
    let sent = simulate(&app.graph, &customer(&app, "text", Some("Is the red jacket still available?"))).await.unwrap();
    assert_eq!(sent.router_status, 200);
    let received = wait_event(&app, &crm, "message.received").await;
    assert!(received.hub_signature_valid && received.standard_signature_valid);
    assert_eq!(received.body["message"], "Is the red jacket still available?");
    let page = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("message.received") && page.contains("Is the red jacket still available?") && page.contains("✓")
    );

    // The CRM's reply box answers through the REST API; sent and delivered come back.
    let r = http
        .post(format!("{url}/reply"))
        .form(&[
            ("account_id", wiring["account_id"].as_str().unwrap()),
            ("recipient_id", "5550001"),
            ("text", "Yes, in M and L."),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert!(r.text().await.unwrap().contains("202"), "the page reports the router's 202");
    wait_event(&app, &crm, "message.sent").await;
    wait_event(&app, &crm, "message.delivered").await;
    assert_eq!(app.graph.sent().last().unwrap().body["message"]["text"], "Yes, in M and L.");

    // Read receipt, reaction and postback from the simulator.
    assert_eq!(simulate(&app.graph, &customer(&app, "read", None)).await.unwrap().router_status, 200);
    wait_event(&app, &crm, "message.read").await;
    assert_eq!(simulate(&app.graph, &customer(&app, "reaction", None)).await.unwrap().router_status, 200);
    assert_eq!(wait_event(&app, &crm, "message.reaction").await.body["emoji"], "\u{2764}");
    assert_eq!(simulate(&app.graph, &customer(&app, "postback", None)).await.unwrap().router_status, 200);
    app.drain_until(Duration::from_secs(10), async || {
        crm.events().iter().any(|e| e.event == "message.received" && e.body["payload"] == "TRACK_ORDER")
    })
    .await;
    assert!(simulate(&app.graph, &Simulate { kind: "sing".into(), ..customer(&app, "text", None) }).await.is_err());
    // The simulator's page and its JSON twin.
    let sim = http.get(format!("{}/", app.graph.url())).send().await.unwrap().text().await.unwrap();
    assert!(sim.contains("Sandbox customer simulator") && sim.contains("Send DM") && sim.contains("Mark as read"));
    let r = http
        .post(format!("{}/_fake/inbound", app.graph.url()))
        .json(&serde_json::json!({"target": format!("{}/webhooks/instagram", app.base), "ig_id": IG,
                                  "sender_id": "5550009", "kind": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "nothing to read for a customer the business never answered");

    // Break the CRM (401): the next DM is dead-lettered; fixed, a redrive gets it through.
    http.post(format!("{url}/mode")).form(&[("mode", "reject")]).send().await.unwrap();
    simulate(&app.graph, &customer(&app, "text", Some("hello again"))).await.unwrap();
    app.drain_until(Duration::from_secs(10), async || {
        let n: i64 = sqlx::query_scalar("select count(*) from webhook_deliveries where status = 'dlq'")
            .fetch_one(&app.db)
            .await
            .unwrap();
        n == 1
    })
    .await;
    http.post(format!("{url}/mode")).form(&[("mode", "accept")]).send().await.unwrap();
    let r = app.post("/api/v1/admin/dlq/webhooks/retry", &app.admin_key, &serde_json::json!({})).await;
    assert_eq!(r.json["requeued"], 1, "{}", r.text);
    app.drain_until(Duration::from_secs(10), async || {
        crm.events().iter().filter(|e| e.body["message"] == "hello again").count() == 2
    })
    .await;
    let again: Vec<Event> = crm.events().into_iter().filter(|e| e.body["message"] == "hello again").collect();
    assert_eq!(again.len(), 2);
    assert_eq!(again[0].webhook_id, again[1].webhook_id);
    assert_eq!((again[0].status_returned, again[1].status_returned), (200, 401), "newest first");

    // Restarting the demo CRM reuses its merchant, key and account (a fresh sandbox token).
    let before: i64 = sqlx::query_scalar("select count(*) from merchants").fetch_one(&app.db).await.unwrap();
    let (_, _) = start_demo(&app, &state).await;
    let after: i64 = sqlx::query_scalar("select count(*) from merchants").fetch_one(&app.db).await.unwrap();
    assert_eq!(before, after);
    let _ = std::fs::remove_dir_all(dir);
}

//! Outbound media checked before Instagram sees it (core/src/media.rs): Meta's size and type
//! limits, HEAD refused → ranged GET, SSRF rules for the media host, media-host outages retried,
//! and up to ten images per message.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use router_core::ssrf::{GuardedResolver, Lookup};
use router_tests::router_fakes::media::{FakeMedia, MediaFile};
use router_tests::{Resp, TestApp};
use serde_json::{Value, json};
use time::OffsetDateTime;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const IG: &str = "17841400000000043";
const CUSTOMER: &str = "1234567890123457";
const MB: u64 = 1024 * 1024;

struct Setup {
    app: TestApp,
    key: String,
    account_id: String,
    media: FakeMedia,
}

async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let (_, key) = app.merchant_with_key("Acme").await;
    let (account, _) = app.connect_account(&key, IG, "acme", SECRET).await;
    let account_id = account["account_id"].as_str().unwrap().to_owned();
    app.open_window(&account_id, CUSTOMER, OffsetDateTime::now_utc()).await;
    Setup { app, key, account_id, media: FakeMedia::start().await }
}

impl Setup {
    async fn send(&self, extra: Value) -> Resp {
        let mut body = json!({"account_id": self.account_id, "recipient_id": CUSTOMER});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.app.post("/api/v1/messages/send", &self.key, &body).await
    }

    async fn send_one(&self, kind: &str, url: &str) -> String {
        let r = self.send(json!({"attachment": {"type": kind, "url": url}})).await;
        assert_eq!(r.status, 202, "{}", r.text);
        r.json["message_id"].as_str().unwrap().to_owned()
    }

    /// The `message.failed` webhook bodies queued for a message.
    async fn failed_webhooks(&self, message_id: &str) -> Vec<Value> {
        let bodies: Vec<String> = sqlx::query_scalar(
            "select payload from webhook_deliveries where event_id like $1 and event_type = 'message.failed'",
        )
        .bind(format!("msg:{message_id}:%"))
        .fetch_all(&self.app.db)
        .await
        .unwrap();
        bodies.iter().map(|b| serde_json::from_str(b).unwrap()).collect()
    }

    /// Graph send calls received so far.
    fn graph_sends(&self) -> usize {
        self.app.graph.requests().iter().filter(|r| r.path.ends_with("/messages")).count()
    }

    /// Runs a sender whose media probe resolves through `guard` (loopback plays public hosts).
    async fn run_sender_with(&self, guard: GuardedResolver, timeout: Duration) {
        let ctx = self.app.job_context().with_media_resolver(guard, timeout);
        router_worker::runner(Arc::new(ctx))
            .with_kinds(&[router_core::jobs::kinds::SEND_MESSAGE])
            .run_until_idle()
            .await
            .unwrap();
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Asserts the message failed for good with `code`, told the CRM so, and Instagram saw nothing.
async fn assert_failed_before_graph(s: &Setup, message_id: &str, code: &str) {
    let st = s.app.status_of(&s.key, message_id).await;
    assert_eq!(st["status"], "failed", "{code}: {st}");
    assert_eq!(st["error"]["code"], code, "{st}");
    assert_eq!(st["error"]["retryable"], false, "{st}");
    assert!(!st["error"]["message"].as_str().unwrap().is_empty());
    let hooks = s.failed_webhooks(message_id).await;
    assert_eq!(hooks.len(), 1, "{code}: one message.failed webhook");
    assert!(hooks[0].to_string().contains(code), "the webhook names the code: {}", hooks[0]);
    assert_eq!(s.graph_sends(), 0, "{code}: the Graph API was never called");
}

#[tokio::test]
async fn media_over_metas_limits_or_of_the_wrong_type_fails_at_once_without_calling_instagram() {
    let s = setup().await;
    let cases: Vec<(&str, &str, MediaFile, &str)> = vec![
        ("image", "/big.png", MediaFile::new("image/png", 8 * MB + 1), "media_too_large"),
        ("image", "/big.jpg", MediaFile::new("image/jpeg", 9 * MB), "media_too_large"),
        ("video", "/big.mp4", MediaFile::new("video/mp4", 25 * MB + 1), "media_too_large"),
        ("audio", "/big.m4a", MediaFile::new("audio/x-m4a", 26 * MB), "media_too_large"),
        ("file", "/big.pdf", MediaFile::new("application/pdf", 25 * MB + 1), "media_too_large"),
        ("image", "/anim.gif", MediaFile::new("image/gif", 1000), "media_type_unsupported"),
        ("image", "/page.png", MediaFile::new("text/html; charset=utf-8", 1000), "media_type_unsupported"),
        ("video", "/clip.mkv", MediaFile::new("video/x-matroska", 1000), "media_type_unsupported"),
        ("audio", "/song.mp3", MediaFile::new("audio/mpeg", 1000), "media_type_unsupported"),
        ("file", "/doc.docx", MediaFile::new("application/msword", 1000), "media_type_unsupported"),
        ("image", "/untyped.png", MediaFile::new("image/png", 1000).untyped(), "media_type_unsupported"),
        ("image", "/gone.png", MediaFile::new("image/png", 1000).status(404), "media_not_found"),
    ];
    for (kind, path, file, code) in cases {
        let url = s.media.serve(path, file);
        let mid = s.send_one(kind, &url).await;
        s.app.sender().run_until_idle().await.unwrap();
        assert_failed_before_graph(&s, &mid, code).await;
    }
    // The probe never downloaded a file: HEAD, and only where HEAD did not answer 2xx (the 404)
    // a GET for one byte.
    let gets: Vec<_> = s.media.requests().into_iter().filter(|r| r.method != "HEAD").collect();
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!((gets[0].path.as_str(), gets[0].range.as_deref()), ("/gone.png", Some("bytes=0-0")));
}

#[tokio::test]
async fn media_within_the_limits_is_sent_including_exactly_at_the_limit() {
    let s = setup().await;
    let cases = [
        ("image", "/edge.png", MediaFile::new("image/png", 8 * MB)),
        ("image", "/p.jpg", MediaFile::new("image/jpeg", 200_000)),
        ("video", "/v.mov", MediaFile::new("video/quicktime", 25 * MB)),
        ("audio", "/a.wav", MediaFile::new("audio/wav", 3 * MB)),
        ("file", "/f.pdf", MediaFile::new("application/pdf; charset=binary", 100_000)),
    ];
    for (kind, path, file) in cases {
        let url = s.media.serve(path, file);
        let mid = s.send_one(kind, &url).await;
        s.app.sender().run_until_idle().await.unwrap();
        let st = s.app.status_of(&s.key, &mid).await;
        assert_eq!(st["status"], "delivered", "{path}: {st}");
        let last = s.app.graph.sent().pop().unwrap();
        assert_eq!(last.body["message"]["attachment"], json!({"type": kind, "payload": {"url": url}}));
    }
    assert_eq!(s.app.graph.sent().len(), 5);
}

#[tokio::test]
async fn a_host_refusing_head_is_asked_with_a_ranged_get_whose_content_range_decides() {
    let s = setup().await;
    let ok = s.media.serve("/signed.png", MediaFile::new("image/png", 5 * MB).refuse_head());
    let mid = s.send_one("image", &ok).await;
    s.app.sender().run_until_idle().await.unwrap();
    assert_eq!(s.app.status_of(&s.key, &mid).await["status"], "delivered");
    let reqs: Vec<(String, Option<String>)> = s.media.requests().into_iter().map(|r| (r.method, r.range)).collect();
    assert_eq!(reqs, [("HEAD".to_owned(), None), ("GET".to_owned(), Some("bytes=0-0".to_owned()))]);

    // The size comes from Content-Range (the 206 carries one byte): too large is still refused.
    let big = s.media.serve("/signed-big.png", MediaFile::new("image/png", 12 * MB).refuse_head());
    let mid = s.send_one("image", &big).await;
    s.app.sender().run_until_idle().await.unwrap();
    let st = s.app.status_of(&s.key, &mid).await;
    assert_eq!(st["error"]["code"], "media_too_large", "{st}");
    assert_eq!(s.app.graph.sent().len(), 1, "only the acceptable image reached Instagram");
}

#[tokio::test]
async fn a_media_host_resolving_or_redirecting_to_a_forbidden_address_is_refused_without_connecting() {
    let s = setup().await;
    // 127.0.0.1 plays an internal service; 127.0.0.2, same port, a public CDN.
    let internal = s.media.clone();
    internal.serve("/secret.png", MediaFile::new("image/png", 1000));
    let public = FakeMedia::start_on(SocketAddr::new(ip("127.0.0.2"), internal.addr().port())).await;
    let port = internal.addr().port();
    public.serve(
        "/hop.png",
        MediaFile::new("image/png", 1000).redirect(&format!("http://internal.test:{port}/secret.png")),
    );
    public.serve("/fine.png", MediaFile::new("image/png", 1000));
    let lookup =
        Lookup::table(&[("cdn.test", vec![vec![ip("127.0.0.2")]]), ("internal.test", vec![vec![ip("127.0.0.1")]])]);
    let guard = || GuardedResolver::with_policy(lookup.clone(), |a| a == IpAddr::from([127, 0, 0, 1]));

    let direct = s.send_one("image", &format!("http://internal.test:{port}/secret.png")).await;
    s.run_sender_with(guard(), Duration::from_secs(2)).await;
    assert_failed_before_graph(&s, &direct, "media_url_forbidden").await;

    let redirected = s.send_one("image", &format!("http://cdn.test:{port}/hop.png")).await;
    s.run_sender_with(guard(), Duration::from_secs(2)).await;
    assert_failed_before_graph(&s, &redirected, "media_url_forbidden").await;
    assert!(internal.requests().is_empty(), "the internal host was never contacted: {:?}", internal.requests());
    assert_eq!(public.requests().len(), 1, "the public host was asked once, then its redirect refused");

    // The same client sends from the public host.
    let fine = s.send_one("image", &format!("http://cdn.test:{port}/fine.png")).await;
    s.run_sender_with(guard(), Duration::from_secs(2)).await;
    assert_eq!(s.app.status_of(&s.key, &fine).await["status"], "delivered");
}

#[tokio::test]
async fn ten_images_go_in_one_call_in_metas_shape_and_eleven_are_refused_naming_the_field() {
    let s = setup().await;
    let urls: Vec<String> =
        (0..11).map(|i| s.media.serve(&format!("/img{i}.jpg"), MediaFile::new("image/jpeg", 100_000))).collect();
    let images = |n: usize| json!(urls[..n].iter().map(|u| json!({"type": "image", "url": u})).collect::<Vec<_>>());

    let r = s.send(json!({"attachments": images(11)})).await;
    r.assert_error(422, "validation_failed");
    assert_eq!(r.json["details"]["field"], "attachments", "{}", r.text);
    for (extra, field) in [
        (json!({"attachments": []}), "attachments"),
        (json!({"attachments": [{"type": "video", "url": urls[0]}]}), "attachments[0].type"),
        (
            json!({"attachments": [{"type": "image", "url": urls[0]}, {"type": "image", "url": "ftp://x/y.png"}]}),
            "attachments[1].url",
        ),
        (json!({"attachments": images(2), "attachment": {"type": "image", "url": urls[0]}}), "attachments"),
    ] {
        let r = s.send(extra).await;
        r.assert_error(422, "validation_failed");
        assert_eq!(r.json["details"]["field"], field, "{}", r.text);
    }
    let stored: i64 = sqlx::query_scalar("select count(*) from outbound_messages").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(stored, 0, "nothing refused was stored");

    let r = s.send(json!({"attachments": images(10), "message": "Your order"})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let mid = r.json["message_id"].as_str().unwrap().to_owned();
    s.app.sender().run_until_idle().await.unwrap();
    assert_eq!(s.app.status_of(&s.key, &mid).await["status"], "delivered");
    let sent = s.app.graph.sent();
    assert_eq!(sent.len(), 2, "the ten images in one call, then the text");
    let expected: Vec<Value> = urls[..10].iter().map(|u| json!({"type": "image", "payload": {"url": u}})).collect();
    assert_eq!(sent[0].body["message"], json!({"attachments": expected}));
    assert_eq!(sent[1].body["message"]["text"], "Your order");
    assert_eq!(s.media.requests().len(), 10, "each image checked once");

    // The conversation history shows the images as sent.
    let h = s.app.get(&format!("/api/v1/messages?account_id={}&recipient_id={CUSTOMER}", s.account_id), &s.key).await;
    assert_eq!(h.status, 200, "{}", h.text);
    let content = &h.json["data"][0]["content"];
    assert_eq!(content["attachments"].as_array().unwrap().len(), 10, "{content}");
    assert!(content.get("attachment").is_none());

    // One bad image among ten fails the whole message before Instagram.
    s.media.serve("/img3.jpg", MediaFile::new("image/jpeg", 9 * MB));
    let before = s.graph_sends();
    let r = s.send(json!({"attachments": images(10)})).await;
    let mid = r.json["message_id"].as_str().unwrap().to_owned();
    s.app.sender().run_until_idle().await.unwrap();
    let st = s.app.status_of(&s.key, &mid).await;
    assert_eq!(st["error"]["code"], "media_too_large", "{st}");
    assert_eq!(s.graph_sends(), before);
}

#[tokio::test]
async fn a_media_host_failing_or_too_slow_is_retried_and_the_message_sent_once_it_answers() {
    let s = setup().await;
    let url = s.media.serve("/flaky.png", MediaFile::new("image/png", 1000).status(500));
    let mid = s.send_one("image", &url).await;
    let guard = || GuardedResolver::new(Lookup::System, false);
    s.run_sender_with(guard(), Duration::from_millis(500)).await;
    let st = s.app.status_of(&s.key, &mid).await;
    assert_eq!(st["status"], "pending", "{st}");
    assert_eq!(st["error"]["code"], "media_unreachable", "{st}");
    assert_eq!(st["error"]["retryable"], true);
    assert_eq!(s.graph_sends(), 0);
    assert!(s.failed_webhooks(&mid).await.is_empty(), "no message.failed for a retryable outage");

    // Now slow: past the probe's bound is the same retryable failure.
    s.media.serve("/flaky.png", MediaFile::new("image/png", 1000).delay(Duration::from_secs(3)));
    sqlx::query("update jobs set run_at = now() where kind = 'message.send'").execute(&s.app.db).await.unwrap();
    let started = std::time::Instant::now();
    s.run_sender_with(guard(), Duration::from_millis(500)).await;
    assert!(started.elapsed() < Duration::from_millis(2500), "the probe gave up at its bound");
    let st = s.app.status_of(&s.key, &mid).await;
    assert_eq!((st["status"].as_str(), st["error"]["code"].as_str()), (Some("pending"), Some("media_unreachable")));
    assert_eq!(st["attempts"], 2, "{st}");

    // The host recovers: the retry sends the message.
    s.media.serve("/flaky.png", MediaFile::new("image/png", 1000));
    sqlx::query("update jobs set run_at = now() where kind = 'message.send'").execute(&s.app.db).await.unwrap();
    s.run_sender_with(guard(), Duration::from_millis(500)).await;
    assert_eq!(s.app.status_of(&s.key, &mid).await["status"], "delivered");
    assert_eq!(s.app.graph.sent().len(), 1);
}

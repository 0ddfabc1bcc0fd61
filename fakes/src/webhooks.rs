//! Builders for Meta's Instagram webhook payloads (`research/meta-instagram-api.md` §2), so tests
//! and the sandbox send exactly what Meta sends: the `{object, entry[]}` envelope, `messaging[]`
//! events with 13-digit millisecond timestamps and string ids, and a body whose non-ASCII
//! characters are escaped as lowercase `\uXXXX` (the form Meta signs).

use serde_json::{Value, json};
use time::OffsetDateTime;

fn ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// `{"object":"instagram","entry":[{id, time, messaging: events}]}`.
#[must_use]
pub fn envelope(ig_id: &str, events: Vec<Value>) -> Value {
    json!({"object": "instagram", "entry": [{"id": ig_id, "time": ms(OffsetDateTime::now_utc()), "messaging": events}]})
}

/// Several entries in one POST.
#[must_use]
pub fn multi_entry(entries: Vec<(String, Vec<Value>)>) -> Value {
    let now = ms(OffsetDateTime::now_utc());
    let entries: Vec<Value> =
        entries.into_iter().map(|(id, ev)| json!({"id": id, "time": now, "messaging": ev})).collect();
    json!({"object": "instagram", "entry": entries})
}

fn base(ig_id: &str, sender: &str, at: OffsetDateTime) -> Value {
    json!({"sender": {"id": sender}, "recipient": {"id": ig_id}, "timestamp": ms(at)})
}

/// A customer's text DM.
#[must_use]
pub fn text_message(ig_id: &str, sender: &str, mid: &str, text: &str, at: OffsetDateTime) -> Value {
    let mut e = base(ig_id, sender, at);
    e["message"] = json!({"mid": mid, "text": text});
    e
}

/// A customer's message with one attachment of `kind` (image, video, audio, file, share,
/// story_mention, ig_reel, reel).
#[must_use]
pub fn attachment_message(ig_id: &str, sender: &str, mid: &str, kind: &str, url: &str, at: OffsetDateTime) -> Value {
    let mut e = base(ig_id, sender, at);
    let mut payload = json!({"url": url});
    if kind == "ig_reel" || kind == "reel" {
        payload["title"] = json!("Reel title");
        payload["reel_video_id"] = json!("18012345678901234");
    }
    e["message"] = json!({"mid": mid, "attachments": [{"type": kind, "payload": payload}]});
    e
}

/// An event with an arbitrary `message` object (story replies, quick replies, unsupported…).
#[must_use]
pub fn message_with(ig_id: &str, sender: &str, message: Value, at: OffsetDateTime) -> Value {
    let mut e = base(ig_id, sender, at);
    e["message"] = message;
    e
}

/// An echo of a message the business sent (`sender` is the business account).
#[must_use]
pub fn echo(ig_id: &str, customer: &str, mid: &str, text: &str, at: OffsetDateTime) -> Value {
    json!({"sender": {"id": ig_id}, "recipient": {"id": customer}, "timestamp": ms(at),
           "message": {"mid": mid, "text": text, "is_echo": true}})
}

/// A reaction (`action` react/unreact) to message `mid`.
#[must_use]
pub fn reaction(ig_id: &str, sender: &str, mid: &str, action: &str, emoji: Option<&str>, at: OffsetDateTime) -> Value {
    let mut e = base(ig_id, sender, at);
    let mut r = json!({"mid": mid, "action": action});
    if let Some(em) = emoji {
        r["reaction"] = json!("love");
        r["emoji"] = json!(em);
    }
    e["reaction"] = r;
    e
}

/// A read receipt up to `mid`.
#[must_use]
pub fn read(ig_id: &str, sender: &str, mid: &str, at: OffsetDateTime) -> Value {
    let mut e = base(ig_id, sender, at);
    e["read"] = json!({"mid": mid});
    e
}

/// A postback (icebreaker / button).
#[must_use]
pub fn postback(ig_id: &str, sender: &str, mid: &str, title: &str, payload: &str, at: OffsetDateTime) -> Value {
    let mut e = base(ig_id, sender, at);
    e["postback"] = json!({"mid": mid, "title": title, "payload": payload});
    e
}

/// An `ig.me` referral.
#[must_use]
pub fn referral(ig_id: &str, sender: &str, reference: &str, at: OffsetDateTime) -> Value {
    let mut e = base(ig_id, sender, at);
    e["referral"] = json!({"ref": reference, "source": "https://ig.me/m/shop", "type": "OPEN_THREAD"});
    e
}

/// A message edit.
#[must_use]
pub fn edit(ig_id: &str, sender: &str, mid: &str, text: &str, num_edit: i64, at: OffsetDateTime) -> Value {
    let mut e = base(ig_id, sender, at);
    e["message_edit"] = json!({"mid": mid, "text": text, "num_edit": num_edit});
    e
}

/// An unsent (deleted) message.
#[must_use]
pub fn deleted(ig_id: &str, sender: &str, mid: &str, at: OffsetDateTime) -> Value {
    let mut e = base(ig_id, sender, at);
    e["message"] = json!({"mid": mid, "is_deleted": true});
    e
}

/// The App Dashboard's "Test" payload: `changes[]`, fake ids, string timestamp in seconds.
#[must_use]
pub fn dashboard_test() -> Value {
    json!({"object": "instagram", "entry": [{"id": "0", "time": 1_700_000_000, "changes": [{"field": "messages", "value": {
        "sender": {"id": "12334"}, "recipient": {"id": "23245"}, "timestamp": "1527459824",
        "message": {"mid": "random_mid", "text": "random_text"}}}]}]})
}

/// Serialises as Meta does: compact JSON with every non-ASCII character escaped as lowercase
/// `\uXXXX` (UTF-16 surrogate pairs above the BMP).
#[must_use]
pub fn to_meta_bytes(v: &Value) -> Vec<u8> {
    let compact = serde_json::to_string(v).expect("serialisable");
    let mut out = String::with_capacity(compact.len());
    for ch in compact.chars() {
        if ch.is_ascii() {
            out.push(ch);
        } else {
            let mut buf = [0u16; 2];
            for unit in ch.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out.into_bytes()
}

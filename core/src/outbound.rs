//! The outbound message as the router stores it and as the Send API takes it.
//!
//! Attachments and quick replies are typed here and stored as this typed JSON in
//! `outbound_messages.attachment` / `quick_replies` (the API writes them, the worker reads them
//! back with the same types). [`OutboundMessage::send_requests`] builds the Graph Send API bodies
//! (research/meta-instagram-api.md §3.2): the attachment first (several images as one
//! `attachments` call), then the text in pieces of at most [`INSTAGRAM_TEXT_MAX_BYTES`], quick
//! replies on the last text piece, the tag on every call.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::{INSTAGRAM_TEXT_MAX_BYTES, split_text};
use crate::redis::Lane;

/// The kind of a media attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    File,
}

impl MediaKind {
    /// Every kind.
    pub const ALL: [Self; 4] = [Self::Image, Self::Video, Self::Audio, Self::File];

    /// The wire name (`image`, `video`, `audio`, `file`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::File => "file",
        }
    }

    /// The kind of a wire name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Meta's rate lane: audio and video use the media lane (10/s), images and files the text lane.
    #[must_use]
    pub fn lane(self) -> Lane {
        match self {
            Self::Audio | Self::Video => Lane::Media,
            Self::Image | Self::File => Lane::Text,
        }
    }
}

/// One media item: `{type, url}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    #[serde(rename = "type")]
    pub kind: MediaKind,
    /// Public http(s) URL Instagram downloads the media from.
    pub url: String,
}

/// `outbound_messages.attachment`: one item (`attachment`), or up to ten images sent in one call
/// (`attachments`, stored as an array).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Attachment {
    One(Media),
    Images(Vec<Media>),
}

impl Attachment {
    /// The media items, in order.
    #[must_use]
    pub fn items(&self) -> &[Media] {
        match self {
            Self::One(m) => std::slice::from_ref(m),
            Self::Images(list) => list,
        }
    }
}

/// A quick-reply button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickReply {
    pub title: String,
    pub payload: String,
}

/// What the Send API is asked to deliver for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage<'a> {
    /// The contact's IGSID.
    pub recipient_id: &'a str,
    pub text: Option<&'a str>,
    pub attachment: Option<&'a Attachment>,
    pub quick_replies: &'a [QuickReply],
    /// `HUMAN_AGENT` (sent as `messaging_type: MESSAGE_TAG`).
    pub tag: Option<&'a str>,
}

/// One Send API call: its JSON body and the rate lane it counts against.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    pub body: Value,
    pub lane: Lane,
}

impl OutboundMessage<'_> {
    /// How many Send API calls the message takes.
    #[must_use]
    pub fn parts_total(&self) -> usize {
        usize::from(self.attachment.is_some()) + self.text.map_or(0, |t| split_text(t, INSTAGRAM_TEXT_MAX_BYTES).len())
    }

    /// The Send API calls, in order (see the module docs).
    #[must_use]
    pub fn send_requests(&self) -> Vec<SendRequest> {
        let mut parts = Vec::new();
        match self.attachment {
            // Several images: one call with Meta's `attachments` array (research §3.2).
            Some(Attachment::Images(items)) => {
                let list: Vec<Value> =
                    items.iter().map(|a| json!({"type": a.kind, "payload": {"url": a.url}})).collect();
                parts.push(SendRequest { body: self.body(json!({"attachments": list})), lane: Lane::Text });
            }
            Some(Attachment::One(a)) => {
                let message = json!({"attachment": {"type": a.kind, "payload": {"url": a.url}}});
                parts.push(SendRequest { body: self.body(message), lane: a.kind.lane() });
            }
            None => {}
        }
        if let Some(text) = self.text {
            let pieces = split_text(text, INSTAGRAM_TEXT_MAX_BYTES);
            let last = pieces.len() - 1;
            for (i, piece) in pieces.into_iter().enumerate() {
                let mut message = json!({"text": piece});
                if i == last && !self.quick_replies.is_empty() {
                    message["quick_replies"] = self
                        .quick_replies
                        .iter()
                        .map(|b| json!({"content_type": "text", "title": b.title, "payload": b.payload}))
                        .collect();
                }
                parts.push(SendRequest { body: self.body(message), lane: Lane::Text });
            }
        }
        parts
    }

    /// A call's body around `message`: the recipient, and the tag when there is one.
    fn body(&self, message: Value) -> Value {
        let mut body = json!({"recipient": {"id": self.recipient_id}, "message": message});
        if let Some(tag) = self.tag {
            body["messaging_type"] = json!("MESSAGE_TAG");
            body["tag"] = json!(tag);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_first_then_text_pieces_with_quick_replies_on_the_last() {
        let media = Attachment::One(Media { kind: MediaKind::Video, url: "https://cdn.example/v.mp4".into() });
        let quick = [QuickReply { title: "Yes".into(), payload: "Y".into() }];
        let text = "é".repeat(700); // 1400 bytes: two pieces
        let msg = OutboundMessage {
            recipient_id: "42",
            text: Some(&text),
            attachment: Some(&media),
            quick_replies: &quick,
            tag: Some("HUMAN_AGENT"),
        };
        let parts = msg.send_requests();
        assert_eq!(parts.len(), 3);
        assert_eq!(msg.parts_total(), 3);
        assert_eq!(parts[0].lane, Lane::Media);
        assert_eq!(
            parts[0].body["message"]["attachment"],
            json!({"type": "video", "payload": {"url": "https://cdn.example/v.mp4"}})
        );
        assert!(parts[1].body["message"].get("quick_replies").is_none());
        assert_eq!(
            parts[2].body["message"]["quick_replies"][0],
            json!({"content_type": "text", "title": "Yes", "payload": "Y"})
        );
        assert!(parts.iter().all(|p| p.body["tag"] == "HUMAN_AGENT" && p.body["recipient"]["id"] == "42"));
    }

    #[test]
    fn stored_attachments_keep_their_json_shapes() {
        let one: Attachment = serde_json::from_value(json!({"type": "file", "url": "u"})).unwrap();
        assert_eq!(one.items()[0].kind, MediaKind::File);
        let many: Attachment =
            serde_json::from_value(json!([{"type": "image", "url": "a"}, {"type": "image", "url": "b"}])).unwrap();
        assert_eq!(many.items().len(), 2);
        assert_eq!(serde_json::to_value(&many).unwrap()[1]["url"], "b");
        assert!(serde_json::from_value::<Attachment>(json!({"type": "sticker", "url": "u"})).is_err());
        let images =
            OutboundMessage { recipient_id: "1", text: None, attachment: Some(&many), quick_replies: &[], tag: None };
        let parts = images.send_requests();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].body["message"]["attachments"][1]["payload"]["url"], "b");
        assert!(parts[0].body.get("tag").is_none());
    }
}

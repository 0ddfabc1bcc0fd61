//! The outbound message as the router stores it and as the Send API takes it.
//!
//! Attachments and quick replies are typed here and stored as this typed JSON in
//! `outbound_messages.attachment` / `quick_replies` (the API writes them, the worker reads them
//! back with the same types). [`OutboundMessage::parts`] splits a message into its Send API calls
//! (research/meta-instagram-api.md §3.2), typed: the attachment first (several images as one
//! `attachments` call), then the text in pieces of at most [`INSTAGRAM_TEXT_MAX_BYTES`], quick
//! replies on the last text piece. The Graph client builds each call's body
//! ([`crate::graph::GraphClient::send_part`]), with the tag on every call.

use serde::{Deserialize, Serialize};

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

/// One Send API call of a message, typed: the Graph client turns it into the request body
/// ([`crate::graph::GraphClient::send_part`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendPart<'a> {
    /// One attachment (image, video, audio or file).
    Media(&'a Media),
    /// Several images in one call (Meta's `attachments` array, research §3.2).
    Images(&'a [Media]),
    /// A piece of the text (at most [`INSTAGRAM_TEXT_MAX_BYTES`]); the quick replies ride on the
    /// last piece only.
    Text { text: &'a str, quick_replies: &'a [QuickReply] },
}

impl SendPart<'_> {
    /// The rate lane the call counts against (Meta limits media and text separately).
    #[must_use]
    pub fn lane(&self) -> Lane {
        match self {
            Self::Media(m) => m.kind.lane(),
            Self::Images(_) | Self::Text { .. } => Lane::Text,
        }
    }

    /// What the call's echo webhook will carry: `("text", Some(text))`, or the attachment type
    /// (Meta echoes its own CDN URL, so the type is all that can be matched).
    #[must_use]
    pub fn echo_signature(&self) -> (String, Option<String>) {
        match self {
            Self::Media(m) => (m.kind.as_str().to_owned(), None),
            Self::Images(_) => (MediaKind::Image.as_str().to_owned(), None),
            Self::Text { text, .. } => ("text".to_owned(), Some((*text).to_owned())),
        }
    }
}

impl<'a> OutboundMessage<'a> {
    /// How many Send API calls the message takes.
    #[must_use]
    pub fn parts_total(&self) -> usize {
        usize::from(self.attachment.is_some()) + self.text.map_or(0, |t| split_text(t, INSTAGRAM_TEXT_MAX_BYTES).len())
    }

    /// The Send API calls, in order (see the module docs).
    #[must_use]
    pub fn parts(&self) -> Vec<SendPart<'a>> {
        let mut parts = Vec::new();
        match self.attachment {
            Some(Attachment::Images(items)) => parts.push(SendPart::Images(items)),
            Some(Attachment::One(a)) => parts.push(SendPart::Media(a)),
            None => {}
        }
        if let Some(text) = self.text {
            let pieces = split_text(text, INSTAGRAM_TEXT_MAX_BYTES);
            let last = pieces.len() - 1;
            for (i, piece) in pieces.into_iter().enumerate() {
                let quick_replies = if i == last { self.quick_replies } else { &[] };
                parts.push(SendPart::Text { text: piece, quick_replies });
            }
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attachment_first_then_text_pieces_with_quick_replies_on_the_last() {
        let video = Media { kind: MediaKind::Video, url: "https://cdn.example/v.mp4".into() };
        let media = Attachment::One(video.clone());
        let quick = [QuickReply { title: "Yes".into(), payload: "Y".into() }];
        let text = "é".repeat(700); // 1400 bytes: two pieces
        let msg = OutboundMessage {
            recipient_id: "42",
            text: Some(&text),
            attachment: Some(&media),
            quick_replies: &quick,
            tag: Some("HUMAN_AGENT"),
        };
        let parts = msg.parts();
        assert_eq!(parts.len(), 3);
        assert_eq!(msg.parts_total(), 3);
        assert_eq!(parts[0], SendPart::Media(&video));
        assert_eq!(parts[0].lane(), Lane::Media);
        assert_eq!(parts[0].echo_signature(), ("video".to_owned(), None));
        let SendPart::Text { text: first, quick_replies } = parts[1] else { panic!("{:?}", parts[1]) };
        assert!(quick_replies.is_empty() && first.len() <= INSTAGRAM_TEXT_MAX_BYTES);
        let SendPart::Text { text: second, quick_replies } = parts[2] else { panic!("{:?}", parts[2]) };
        assert_eq!(quick_replies, &quick);
        assert_eq!(format!("{first}{second}"), text);
        assert_eq!(parts[2].echo_signature(), ("text".to_owned(), Some(second.to_owned())));
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
        assert_eq!(images.parts(), [SendPart::Images(many.items())]);
        assert_eq!(images.parts()[0].lane(), Lane::Text);
    }
}

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

/// `outbound_messages.attachment`: one item (`attachment`), up to ten images sent in one call
/// (`attachments`, stored as an array), a structured template (cards or buttons) or a sticker.
/// Stored untagged: each shape is told apart by its own fields (`type` of a media kind, an array,
/// `template_type`, `type: like_heart`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Attachment {
    One(Media),
    Images(Vec<Media>),
    Template(Template),
    Sticker(Sticker),
}

impl Attachment {
    /// The media items the worker checks before sending, in order (none for templates and
    /// stickers: a card's image is Meta's to fetch, and a missing one only leaves the card bare).
    #[must_use]
    pub fn items(&self) -> &[Media] {
        match self {
            Self::One(m) => std::slice::from_ref(m),
            Self::Images(list) => list,
            Self::Template(_) | Self::Sticker(_) => &[],
        }
    }
}

/// A button of a card or a button template (research: Meta's button template and generic
/// template pages): a link opened in the in-app browser, or a postback that comes back to the
/// CRM as a `message.received` webhook with `message_type: postback` and its payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Button {
    /// Opens `url` (http or https, at most 2048 characters) in the in-app browser.
    WebUrl {
        /// 1–20 characters.
        title: String,
        url: String,
    },
    /// Sends `payload` (1–1000 characters) back to you in a `postback` message.
    Postback {
        /// 1–20 characters.
        title: String,
        payload: String,
    },
}

/// One card of a generic template (a carousel when there are several).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Card {
    /// 1–80 characters.
    pub title: String,
    /// At most 80 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtitle: Option<String>,
    /// An http(s) image URL (Meta fetches it; it is not checked before the send).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Opened when the card itself is tapped (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action_url: Option<String>,
    /// Up to three.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
}

/// Cards with image, title, subtitle and up to three buttons each: one card, or a carousel of up
/// to ten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenericTemplate {
    pub elements: Vec<Card>,
}

/// A text (1–640 characters) with one to three buttons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ButtonTemplate {
    pub text: String,
    pub buttons: Vec<Button>,
}

/// A structured message: Meta's `{"type": "template", "payload": {"template_type": …}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "template_type", rename_all = "snake_case")]
pub enum Template {
    Generic(GenericTemplate),
    Button(ButtonTemplate),
}

/// A sticker: Instagram's heart (`{"type": "like_heart"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Sticker {
    LikeHeart,
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
    /// A generic or button template.
    Template(&'a Template),
    /// A sticker.
    Sticker(Sticker),
}

impl SendPart<'_> {
    /// The rate lane the call counts against (Meta limits media and text separately).
    #[must_use]
    pub fn lane(&self) -> Lane {
        match self {
            Self::Media(m) => m.kind.lane(),
            Self::Images(_) | Self::Text { .. } | Self::Template(_) | Self::Sticker(_) => Lane::Text,
        }
    }

    /// What the call's echo webhook will carry: `("text", Some(text))`, or the attachment type
    /// (Meta echoes its own CDN URL, so the type is all that can be matched; `template` and
    /// `like_heart` for the structured kinds).
    #[must_use]
    pub fn echo_signature(&self) -> (String, Option<String>) {
        match self {
            Self::Media(m) => (m.kind.as_str().to_owned(), None),
            Self::Images(_) => (MediaKind::Image.as_str().to_owned(), None),
            Self::Text { text, .. } => ("text".to_owned(), Some((*text).to_owned())),
            Self::Template(_) => ("template".to_owned(), None),
            Self::Sticker(Sticker::LikeHeart) => ("like_heart".to_owned(), None),
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
            Some(Attachment::Template(t)) => parts.push(SendPart::Template(t)),
            Some(Attachment::Sticker(s)) => parts.push(SendPart::Sticker(*s)),
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

    #[test]
    fn templates_and_stickers_are_stored_by_their_own_fields_and_sent_as_one_part() {
        let cards: Attachment = serde_json::from_value(json!({"template_type": "generic", "elements": [
            {"title": "Hat", "image_url": "https://cdn.example/h.png",
             "buttons": [{"type": "web_url", "title": "Buy", "url": "https://shop.example/h"},
                         {"type": "postback", "title": "More", "payload": "MORE_HAT"}]}]}))
        .unwrap();
        let Attachment::Template(Template::Generic(GenericTemplate { elements })) = &cards else { panic!("{cards:?}") };
        assert_eq!(elements[0].buttons[1], Button::Postback { title: "More".into(), payload: "MORE_HAT".into() });
        assert!(cards.items().is_empty());
        let heart: Attachment = serde_json::from_value(json!({"type": "like_heart"})).unwrap();
        assert_eq!(heart, Attachment::Sticker(Sticker::LikeHeart));
        assert_eq!(serde_json::to_value(&heart).unwrap(), json!({"type": "like_heart"}));
        let msg = OutboundMessage {
            recipient_id: "1",
            text: Some("and a note"),
            attachment: Some(&cards),
            quick_replies: &[],
            tag: None,
        };
        assert_eq!(msg.parts_total(), 2);
        assert_eq!(msg.parts()[0].echo_signature(), ("template".to_owned(), None));
        let Attachment::Template(t) = &cards else { unreachable!() };
        assert_eq!(msg.parts()[0], SendPart::Template(t));
        assert!(
            serde_json::from_value::<Button>(json!({"type": "postback", "title": "t", "payload": "p", "x": 1}))
                .is_err(),
            "unknown button fields are refused"
        );
    }
}

//! Domain vocabulary shared by the binaries: scopes, statuses, CRM event names, Instagram ids.

use std::fmt;

use serde::{Deserialize, Serialize};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};

/// A closed set of values stored as `text` (with a `check` constraint naming the same set): a
/// Rust enum with its stored names, mapped to and from SQL, (de)serialised by name.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored (and wire) name.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// The value of a stored name.
            #[must_use]
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }

            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }

        impl<'r> Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                let s = <&str as Decode<'r, Postgres>>::decode(value)?;
                Self::parse(s).ok_or_else(|| format!("unknown {} {s:?}", stringify!($name)).into())
            }
        }

        impl Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as Encode<'_, Postgres>>::encode(self.as_str(), buf)
            }
        }
    };
}

text_enum! {
    /// `outbound_messages.status` (`outbound_messages_status_check`).
    MessageStatus {
        /// Accepted, not yet sent (or retrying).
        Pending = "pending",
        /// Instagram accepted it.
        Sent = "sent",
        /// Recorded with `sent`: Instagram has no delivery receipts.
        Delivered = "delivered",
        /// The contact saw it (`messaging_seen`).
        Read = "read",
        /// Failed for good (`error` says why).
        Failed = "failed",
    }
}

text_enum! {
    /// `accounts.status` (`accounts_status_check`).
    AccountStatus {
        /// Sends go out.
        Active = "active",
        /// Paused by the merchant; sends wait.
        Inactive = "inactive",
        /// Meta rejected the token (190): sends wait for re-authentication.
        Error = "error",
        /// Disconnected (soft-deleted).
        Deleted = "deleted",
    }
}

text_enum! {
    /// `webhook_deliveries.status` (`webhook_deliveries_status_check`).
    DeliveryStatus {
        /// Waiting for (another) attempt.
        Pending = "pending",
        /// The CRM answered 2xx.
        Delivered = "delivered",
        /// Dead-lettered (`dlq_reason` says why); redrivable.
        Dlq = "dlq",
        /// Allowed by the schema, never written today.
        Skipped = "skipped",
    }
}

text_enum! {
    /// `webhook_endpoints.status` (`webhook_endpoints_status_check`).
    EndpointStatus {
        /// Receives deliveries.
        Active = "active",
        /// The CRM answered 410 Gone; re-enabled by a new URL.
        Disabled = "disabled",
    }
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Scope {
    #[serde(rename = "messages:send")]
    MessagesSend,
    #[serde(rename = "messages:read")]
    MessagesRead,
    #[serde(rename = "accounts:read")]
    AccountsRead,
    #[serde(rename = "accounts:write")]
    AccountsWrite,
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 5] =
        [Self::MessagesSend, Self::MessagesRead, Self::AccountsRead, Self::AccountsWrite, Self::Admin];

    /// Wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessagesSend => "messages:send",
            Self::MessagesRead => "messages:read",
            Self::AccountsRead => "accounts:read",
            Self::AccountsWrite => "accounts:write",
            Self::Admin => "admin",
        }
    }

    /// Parses a wire name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// An Instagram id the API was given that is not one: Instagram's ids are decimal strings (at most
/// 64 digits here, which bounds what a tenant can store under one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be a numeric Instagram id of at most 64 digits")]
pub struct InvalidInstagramId;

/// Parses an Instagram id: 1–64 ASCII digits, nothing else (callers trim what they accept
/// padded).
fn parse_instagram_id(s: &str) -> Result<String, InvalidInstagramId> {
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidInstagramId);
    }
    Ok(s.to_owned())
}

macro_rules! instagram_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses 1–64 ASCII digits.
            ///
            /// # Errors
            /// Anything else.
            pub fn parse(s: &str) -> Result<Self, InvalidInstagramId> {
                parse_instagram_id(s).map(Self)
            }

            /// The id as Instagram spells it.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            #[must_use]
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

instagram_id! {
    /// An Instagram-scoped user id (IGSID): a contact, the `recipient_id` of a send.
    Igsid
}

instagram_id! {
    /// An Instagram professional account's id (`instagram_account_id`, the `{ig-id}` of Graph
    /// paths and of webhook entries).
    IgAccountId
}

/// CRM webhook event types (DESIGN §5). Stable wire names.
pub mod events {
    pub const MESSAGE_RECEIVED: &str = "message.received";
    pub const MESSAGE_ECHO: &str = "message.echo";
    pub const MESSAGE_REACTION: &str = "message.reaction";
    pub const MESSAGE_DELETED: &str = "message.deleted";
    pub const MESSAGE_EDITED: &str = "message.edited";
    pub const MESSAGE_SENT: &str = "message.sent";
    pub const MESSAGE_DELIVERED: &str = "message.delivered";
    pub const MESSAGE_READ: &str = "message.read";
    pub const MESSAGE_FAILED: &str = "message.failed";
    pub const ACCOUNT_TOKEN_EXPIRING: &str = "account.token_expiring";
    pub const ACCOUNT_DISABLED: &str = "account.disabled";
    /// The console's "Send test event" (not in [`ALL`]: an endpoint's filter never drops it).
    pub const ENDPOINT_TEST: &str = "endpoint.test";

    /// Every event type, for filter validation and docs.
    pub const ALL: [&str; 11] = [
        MESSAGE_RECEIVED,
        MESSAGE_ECHO,
        MESSAGE_REACTION,
        MESSAGE_DELETED,
        MESSAGE_EDITED,
        MESSAGE_SENT,
        MESSAGE_DELIVERED,
        MESSAGE_READ,
        MESSAGE_FAILED,
        ACCOUNT_TOKEN_EXPIRING,
        ACCOUNT_DISABLED,
    ];
}

/// Instagram's per-message text limit, in UTF-8 bytes.
pub const INSTAGRAM_TEXT_MAX_BYTES: usize = 1000;

/// The API's limit on one message's text, in characters (longer than Instagram's 1000 bytes:
/// such text is sent as consecutive parts, see [`split_text`]).
pub const MESSAGE_TEXT_MAX_CHARS: usize = 1000;
/// The API's limit on one message's text, in bytes of UTF-8.
pub const MESSAGE_TEXT_MAX_BYTES: usize = 2048;

/// Splits `text` into pieces of at most `max_bytes` UTF-8 bytes, never inside a character, and
/// preferring to break after whitespace in the last fifth of a piece. The API accepts up to 1000
/// characters (≤ 2 KB); Instagram accepts 1000 bytes per message, so multibyte text may become
/// two or three Graph calls ("parts").
#[must_use]
pub fn split_text(text: &str, max_bytes: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > max_bytes {
        let mut cut = max_bytes;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut window_start = cut - cut / 5;
        while !rest.is_char_boundary(window_start) {
            window_start += 1;
        }
        if let Some(ws) = rest[window_start..cut].rfind(char::is_whitespace) {
            let at = window_start + ws;
            let ch_len = rest[at..].chars().next().map_or(1, char::len_utf8);
            if at + ch_len > 0 {
                cut = at + ch_len;
            }
        }
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn instagram_ids_are_1_to_64_digits() {
        use super::{IgAccountId, Igsid};
        assert_eq!(Igsid::parse("17841400000000001").unwrap().as_str(), "17841400000000001");
        assert_eq!(IgAccountId::parse(&"9".repeat(64)).unwrap().as_str().len(), 64);
        for bad in ["", " ", " 12", "12a", "-1", "1.5", "１２", "12\u{0}", &"9".repeat(65)] {
            assert!(Igsid::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn statuses_round_trip_their_stored_names() {
        use super::{AccountStatus, DeliveryStatus, EndpointStatus, MessageStatus};
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(AccountStatus::parse("error"), Some(AccountStatus::Error));
        assert_eq!(DeliveryStatus::parse("dlq"), Some(DeliveryStatus::Dlq));
        assert_eq!(EndpointStatus::parse("disabled"), Some(EndpointStatus::Disabled));
        assert_eq!(MessageStatus::parse("PENDING"), None);
        assert_eq!(serde_json::to_value(AccountStatus::Inactive).unwrap(), "inactive");
    }
    use super::*;

    #[test]
    fn short_text_is_one_part_and_long_multibyte_text_splits_on_char_boundaries() {
        assert_eq!(split_text("hello", 1000), vec!["hello"]);
        let cyr = "привет ".repeat(150); // 1050 chars, 1950 bytes
        let parts = split_text(&cyr, 1000);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.len() <= 1000));
        assert_eq!(parts.concat(), cyr);
        // Breaks after a space, not mid-word.
        assert!(parts[0].ends_with(' '));
        let emoji = "😀".repeat(500); // 2000 bytes, no spaces
        let parts = split_text(&emoji, 1000);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts.concat(), emoji);
    }
}

//! Domain vocabulary shared by the binaries: scopes, statuses, CRM event names.

use serde::{Deserialize, Serialize};

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

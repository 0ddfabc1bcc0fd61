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
    pub const ALL: [Scope; 5] = [
        Self::MessagesSend,
        Self::MessagesRead,
        Self::AccountsRead,
        Self::AccountsWrite,
        Self::Admin,
    ];

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

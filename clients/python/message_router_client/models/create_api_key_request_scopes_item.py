from enum import StrEnum


class CreateApiKeyRequestScopesItem(StrEnum):
    ACCOUNTSREAD = "accounts:read"
    ACCOUNTSWRITE = "accounts:write"
    MESSAGESREAD = "messages:read"
    MESSAGESSEND = "messages:send"

    def __str__(self) -> str:
        return str(self.value)

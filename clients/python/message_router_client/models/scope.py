from enum import StrEnum


class Scope(StrEnum):
    ACCOUNTSREAD = "accounts:read"
    ACCOUNTSWRITE = "accounts:write"
    ADMIN = "admin"
    MESSAGESREAD = "messages:read"
    MESSAGESSEND = "messages:send"

    def __str__(self) -> str:
        return str(self.value)

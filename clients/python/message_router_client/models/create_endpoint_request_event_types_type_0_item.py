from enum import StrEnum


class CreateEndpointRequestEventTypesType0Item(StrEnum):
    ACCOUNT_DISABLED = "account.disabled"
    ACCOUNT_TOKEN_EXPIRING = "account.token_expiring"
    MESSAGE_DELETED = "message.deleted"
    MESSAGE_DELIVERED = "message.delivered"
    MESSAGE_ECHO = "message.echo"
    MESSAGE_EDITED = "message.edited"
    MESSAGE_FAILED = "message.failed"
    MESSAGE_REACTION = "message.reaction"
    MESSAGE_READ = "message.read"
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_SENT = "message.sent"

    def __str__(self) -> str:
        return str(self.value)

from enum import StrEnum


class V1WebhookDeliveriesListStatus(StrEnum):
    DELIVERED = "delivered"
    DLQ = "dlq"
    PENDING = "pending"

    def __str__(self) -> str:
        return str(self.value)

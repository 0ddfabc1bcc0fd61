from enum import StrEnum


class SendMessageRequestTagType1(StrEnum):
    HUMAN_AGENT = "HUMAN_AGENT"

    def __str__(self) -> str:
        return str(self.value)

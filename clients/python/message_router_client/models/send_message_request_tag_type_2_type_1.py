from enum import StrEnum


class SendMessageRequestTagType2Type1(StrEnum):
    HUMAN_AGENT = "HUMAN_AGENT"

    def __str__(self) -> str:
        return str(self.value)

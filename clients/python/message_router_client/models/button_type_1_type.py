from enum import StrEnum


class ButtonType1Type(StrEnum):
    POSTBACK = "postback"

    def __str__(self) -> str:
        return str(self.value)

from enum import StrEnum


class SenderActionRequestAction(StrEnum):
    MARK_SEEN = "mark_seen"
    REACT = "react"
    TYPING_OFF = "typing_off"
    TYPING_ON = "typing_on"
    UNREACT = "unreact"

    def __str__(self) -> str:
        return str(self.value)

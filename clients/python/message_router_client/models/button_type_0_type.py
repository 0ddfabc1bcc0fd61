from enum import StrEnum


class ButtonType0Type(StrEnum):
    WEB_URL = "web_url"

    def __str__(self) -> str:
        return str(self.value)

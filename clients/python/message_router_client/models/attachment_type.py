from enum import StrEnum


class AttachmentType(StrEnum):
    AUDIO = "audio"
    FILE = "file"
    IMAGE = "image"
    VIDEO = "video"

    def __str__(self) -> str:
        return str(self.value)

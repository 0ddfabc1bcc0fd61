from enum import StrEnum


class ImageAttachmentType(StrEnum):
    IMAGE = "image"

    def __str__(self) -> str:
        return str(self.value)

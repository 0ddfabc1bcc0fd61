from enum import StrEnum


class UpdateAccountRequestStatusType2Type1(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"

    def __str__(self) -> str:
        return str(self.value)

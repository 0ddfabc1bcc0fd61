from enum import StrEnum


class UpdateAccountRequestStatusType3Type1(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"

    def __str__(self) -> str:
        return str(self.value)

from enum import StrEnum


class CreateApiKeyRequestEnvironmentType3Type1(StrEnum):
    LIVE = "live"
    TEST = "test"

    def __str__(self) -> str:
        return str(self.value)

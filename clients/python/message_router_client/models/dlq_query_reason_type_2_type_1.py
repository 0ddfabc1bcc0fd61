from enum import StrEnum


class DlqQueryReasonType2Type1(StrEnum):
    AUTH_ERROR = "auth_error"
    BLOCKED_URL = "blocked_url"
    ENDPOINT_DISABLED = "endpoint_disabled"
    ENDPOINT_GONE = "endpoint_gone"
    NO_ENDPOINT = "no_endpoint"
    RETRIES_EXHAUSTED = "retries_exhausted"

    def __str__(self) -> str:
        return str(self.value)

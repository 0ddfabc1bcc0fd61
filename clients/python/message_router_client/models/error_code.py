from enum import StrEnum


class ErrorCode(StrEnum):
    ACCOUNT_EXISTS = "account_exists"
    ACCOUNT_NOT_ACTIVE = "account_not_active"
    ENDPOINT_LIMIT_REACHED = "endpoint_limit_reached"
    ENVIRONMENT_MISMATCH = "environment_mismatch"
    FORBIDDEN = "forbidden"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    INSTAGRAM_ACCOUNT_MISMATCH = "instagram_account_mismatch"
    INSTAGRAM_REFUSED = "instagram_refused"
    INTERNAL_ERROR = "internal_error"
    INVALID_INSTAGRAM_TOKEN = "invalid_instagram_token"
    INVALID_OAUTH_CODE = "invalid_oauth_code"
    INVALID_OAUTH_STATE = "invalid_oauth_state"
    INVALID_REQUEST = "invalid_request"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_FOUND = "not_found"
    OAUTH_DENIED = "oauth_denied"
    OAUTH_EXCHANGE_FAILED = "oauth_exchange_failed"
    OUTSIDE_MESSAGING_WINDOW = "outside_messaging_window"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    PRIMARY_ENDPOINT = "primary_endpoint"
    RATE_LIMITED = "rate_limited"
    REDIRECT_NOT_ALLOWED = "redirect_not_allowed"
    SANDBOX_NOT_CONFIGURED = "sandbox_not_configured"
    SERVICE_UNAVAILABLE = "service_unavailable"
    SUBSCRIPTION_FAILED = "subscription_failed"
    TEMPLATE_EXISTS = "template_exists"
    TIMEOUT = "timeout"
    TOO_MANY_ENTRIES = "too_many_entries"
    TOO_MANY_EVENTS = "too_many_events"
    UNAUTHORIZED = "unauthorized"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    VALIDATION_FAILED = "validation_failed"

    def __str__(self) -> str:
        return str(self.value)

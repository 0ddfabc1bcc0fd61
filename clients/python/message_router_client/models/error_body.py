from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.error_code import ErrorCode
from ..types import UNSET, Unset

T = TypeVar("T", bound="ErrorBody")


@_attrs_define
class ErrorBody:
    """The error body, as documented in the OpenAPI spec.

    Attributes:
        correlation_id (str): Equals the `X-Request-Id` response header; quote it in support requests.
        error (ErrorCode): Every `error` code the API answers with (the `error` field of [`ErrorBody`]; the codes are
            stable: clients branch on them). CRM_INTEGRATION.md documents each; the OpenAPI document lists
            them as the `ErrorCode` enum (serde's snake_case names equal [`ErrorCode::as_str`], tested). Example:
            validation_failed.
        message (str): Human-readable explanation (safe to show; never contains secrets).
        timestamp (str): When the error happened (RFC 3339, UTC).
        details (Any | Unset): Structured context, e.g. the offending field or Instagram's error code.
    """

    correlation_id: str
    error: ErrorCode
    message: str
    timestamp: str
    details: Any | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        correlation_id = self.correlation_id

        error = self.error.value

        message = self.message

        timestamp = self.timestamp

        details = self.details

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "correlation_id": correlation_id,
                "error": error,
                "message": message,
                "timestamp": timestamp,
            }
        )
        if details is not UNSET:
            field_dict["details"] = details

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        correlation_id = d.pop("correlation_id")

        error = ErrorCode(d.pop("error"))

        message = d.pop("message")

        timestamp = d.pop("timestamp")

        details = d.pop("details", UNSET)

        error_body = cls(
            correlation_id=correlation_id,
            error=error,
            message=message,
            timestamp=timestamp,
            details=details,
        )

        error_body.additional_properties = d
        return error_body

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.error_detail import ErrorDetail
    from ..models.status_transition import StatusTransition
    from ..models.template_used import TemplateUsed


T = TypeVar("T", bound="MessageStatusResponse")


@_attrs_define
class MessageStatusResponse:
    """Seed schema `MessageStatusResponse`.

    Attributes:
        account_id (UUID):
        attempts (int): Send attempts so far.
        created_at (datetime.datetime):
        message_id (UUID):
        recipient_id (str):
        status (str): `pending`, `sent`, `delivered`, `read` or `failed`. Instagram sends no delivery receipts:
            `delivered` is recorded together with `sent`.
        status_history (list[StatusTransition]):
        updated_at (datetime.datetime):
        error (ErrorDetail | None | Unset):
        instagram_message_id (None | str | Unset):
        template (None | TemplateUsed | Unset):
    """

    account_id: UUID
    attempts: int
    created_at: datetime.datetime
    message_id: UUID
    recipient_id: str
    status: str
    status_history: list[StatusTransition]
    updated_at: datetime.datetime
    error: ErrorDetail | None | Unset = UNSET
    instagram_message_id: None | str | Unset = UNSET
    template: None | TemplateUsed | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.error_detail import ErrorDetail  # noqa: PLC0415
        from ..models.template_used import TemplateUsed  # noqa: PLC0415

        account_id = str(self.account_id)

        attempts = self.attempts

        created_at = self.created_at.isoformat()

        message_id = str(self.message_id)

        recipient_id = self.recipient_id

        status = self.status

        status_history = []
        for status_history_item_data in self.status_history:
            status_history_item = status_history_item_data.to_dict()
            status_history.append(status_history_item)

        updated_at = self.updated_at.isoformat()

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, ErrorDetail):
            error = self.error.to_dict()
        else:
            error = self.error

        instagram_message_id: None | str | Unset
        if isinstance(self.instagram_message_id, Unset):
            instagram_message_id = UNSET
        else:
            instagram_message_id = self.instagram_message_id

        template: dict[str, Any] | None | Unset
        if isinstance(self.template, Unset):
            template = UNSET
        elif isinstance(self.template, TemplateUsed):
            template = self.template.to_dict()
        else:
            template = self.template

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "account_id": account_id,
                "attempts": attempts,
                "created_at": created_at,
                "message_id": message_id,
                "recipient_id": recipient_id,
                "status": status,
                "status_history": status_history,
                "updated_at": updated_at,
            }
        )
        if error is not UNSET:
            field_dict["error"] = error
        if instagram_message_id is not UNSET:
            field_dict["instagram_message_id"] = instagram_message_id
        if template is not UNSET:
            field_dict["template"] = template

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.error_detail import ErrorDetail  # noqa: PLC0415
        from ..models.status_transition import StatusTransition  # noqa: PLC0415
        from ..models.template_used import TemplateUsed  # noqa: PLC0415

        d = dict(src_dict)
        account_id = UUID(d.pop("account_id"))

        attempts = d.pop("attempts")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        message_id = UUID(d.pop("message_id"))

        recipient_id = d.pop("recipient_id")

        status = d.pop("status")

        status_history = []
        _status_history = d.pop("status_history")
        for status_history_item_data in _status_history:
            status_history_item = StatusTransition.from_dict(status_history_item_data)

            status_history.append(status_history_item)

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        def _parse_error(data: object) -> ErrorDetail | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_1 = ErrorDetail.from_dict(data)

                return error_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ErrorDetail | None | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        def _parse_instagram_message_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        instagram_message_id = _parse_instagram_message_id(d.pop("instagram_message_id", UNSET))

        def _parse_template(data: object) -> None | TemplateUsed | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                template_type_1 = TemplateUsed.from_dict(data)

                return template_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TemplateUsed | Unset, data)

        template = _parse_template(d.pop("template", UNSET))

        message_status_response = cls(
            account_id=account_id,
            attempts=attempts,
            created_at=created_at,
            message_id=message_id,
            recipient_id=recipient_id,
            status=status,
            status_history=status_history,
            updated_at=updated_at,
            error=error,
            instagram_message_id=instagram_message_id,
            template=template,
        )

        message_status_response.additional_properties = d
        return message_status_response

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

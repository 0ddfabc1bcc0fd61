from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="SendMessageResponse")


@_attrs_define
class SendMessageResponse:
    """202 response of `POST /messages/send`.

    Attributes:
        created_at (datetime.datetime):
        message_id (UUID):
        status (str): Always `pending` here; follow `message.sent` / `message.failed` webhooks or the status API.
        instagram_message_id (None | str | Unset): Null until Instagram accepts the message.
    """

    created_at: datetime.datetime
    message_id: UUID
    status: str
    instagram_message_id: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        message_id = str(self.message_id)

        status = self.status

        instagram_message_id: None | str | Unset
        if isinstance(self.instagram_message_id, Unset):
            instagram_message_id = UNSET
        else:
            instagram_message_id = self.instagram_message_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "message_id": message_id,
                "status": status,
            }
        )
        if instagram_message_id is not UNSET:
            field_dict["instagram_message_id"] = instagram_message_id

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        message_id = UUID(d.pop("message_id"))

        status = d.pop("status")

        def _parse_instagram_message_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        instagram_message_id = _parse_instagram_message_id(d.pop("instagram_message_id", UNSET))

        send_message_response = cls(
            created_at=created_at,
            message_id=message_id,
            status=status,
            instagram_message_id=instagram_message_id,
        )

        send_message_response.additional_properties = d
        return send_message_response

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

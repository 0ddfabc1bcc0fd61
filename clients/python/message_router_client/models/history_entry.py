from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="HistoryEntry")


@_attrs_define
class HistoryEntry:
    """One entry of a conversation.

    Attributes:
        direction (str): `outbound` or `inbound`.
        id (UUID): Outbound message id, or the inbound event's id.
        kind (str): `message` for outbound; the inbound event kind (`message`, `reaction`, `postback`…).
        timestamp (datetime.datetime):
        content (Any | Unset):
        instagram_message_id (None | str | Unset):
        status (None | str | Unset): Outbound status.
        text (None | str | Unset):
    """

    direction: str
    id: UUID
    kind: str
    timestamp: datetime.datetime
    content: Any | Unset = UNSET
    instagram_message_id: None | str | Unset = UNSET
    status: None | str | Unset = UNSET
    text: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        direction = self.direction

        id = str(self.id)

        kind = self.kind

        timestamp = self.timestamp.isoformat()

        content = self.content

        instagram_message_id: None | str | Unset
        if isinstance(self.instagram_message_id, Unset):
            instagram_message_id = UNSET
        else:
            instagram_message_id = self.instagram_message_id

        status: None | str | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        else:
            status = self.status

        text: None | str | Unset
        if isinstance(self.text, Unset):
            text = UNSET
        else:
            text = self.text

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "direction": direction,
                "id": id,
                "kind": kind,
                "timestamp": timestamp,
            }
        )
        if content is not UNSET:
            field_dict["content"] = content
        if instagram_message_id is not UNSET:
            field_dict["instagram_message_id"] = instagram_message_id
        if status is not UNSET:
            field_dict["status"] = status
        if text is not UNSET:
            field_dict["text"] = text

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        direction = d.pop("direction")

        id = UUID(d.pop("id"))

        kind = d.pop("kind")

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        content = d.pop("content", UNSET)

        def _parse_instagram_message_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        instagram_message_id = _parse_instagram_message_id(d.pop("instagram_message_id", UNSET))

        def _parse_status(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        status = _parse_status(d.pop("status", UNSET))

        def _parse_text(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        text = _parse_text(d.pop("text", UNSET))

        history_entry = cls(
            direction=direction,
            id=id,
            kind=kind,
            timestamp=timestamp,
            content=content,
            instagram_message_id=instagram_message_id,
            status=status,
            text=text,
        )

        history_entry.additional_properties = d
        return history_entry

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

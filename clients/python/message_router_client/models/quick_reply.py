from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="QuickReply")


@_attrs_define
class QuickReply:
    """A quick-reply button (at most 13; needs `message` text).

    Attributes:
        payload (str): Returned to you in the customer's reply (`quick_reply_payload`), 1–1000 characters.
        title (str): Button label, 1–20 characters.
    """

    payload: str
    title: str

    def to_dict(self) -> dict[str, Any]:
        payload = self.payload

        title = self.title

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "payload": payload,
                "title": title,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        payload = d.pop("payload")

        title = d.pop("title")

        quick_reply = cls(
            payload=payload,
            title=title,
        )

        return quick_reply

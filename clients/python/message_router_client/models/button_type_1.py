from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.button_type_1_type import ButtonType1Type

T = TypeVar("T", bound="ButtonType1")


@_attrs_define
class ButtonType1:
    """Sends `payload` (1–1000 characters) back to you in a `postback` message.

    Attributes:
        payload (str):
        title (str): 1–20 characters.
        type_ (ButtonType1Type):
    """

    payload: str
    title: str
    type_: ButtonType1Type

    def to_dict(self) -> dict[str, Any]:
        payload = self.payload

        title = self.title

        type_ = self.type_.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "payload": payload,
                "title": title,
                "type": type_,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        payload = d.pop("payload")

        title = d.pop("title")

        type_ = ButtonType1Type(d.pop("type"))

        button_type_1 = cls(
            payload=payload,
            title=title,
            type_=type_,
        )

        return button_type_1

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.button_type_0_type import ButtonType0Type

T = TypeVar("T", bound="ButtonType0")


@_attrs_define
class ButtonType0:
    """Opens `url` (http or https, at most 2048 characters) in the in-app browser.

    Attributes:
        title (str): 1–20 characters.
        type_ (ButtonType0Type):
        url (str):
    """

    title: str
    type_: ButtonType0Type
    url: str

    def to_dict(self) -> dict[str, Any]:
        title = self.title

        type_ = self.type_.value

        url = self.url

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "title": title,
                "type": type_,
                "url": url,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        title = d.pop("title")

        type_ = ButtonType0Type(d.pop("type"))

        url = d.pop("url")

        button_type_0 = cls(
            title=title,
            type_=type_,
            url=url,
        )

        return button_type_0

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.attachment_type import AttachmentType

T = TypeVar("T", bound="Attachment")


@_attrs_define
class Attachment:
    """A media attachment (sent before the text when both are given).

    Attributes:
        type_ (AttachmentType): `image`, `video`, `audio` or `file`.
        url (str): Public http(s) URL Instagram downloads the media from.
    """

    type_: AttachmentType
    url: str

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_.value

        url = self.url

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "type": type_,
                "url": url,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        type_ = AttachmentType(d.pop("type"))

        url = d.pop("url")

        attachment = cls(
            type_=type_,
            url=url,
        )

        return attachment

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.image_attachment_type import ImageAttachmentType

T = TypeVar("T", bound="ImageAttachment")


@_attrs_define
class ImageAttachment:
    """An image of a multi-image message.

    Attributes:
        type_ (ImageAttachmentType): `image`: only images can be sent several at once.
        url (str): Public http(s) URL Instagram downloads the media from.
    """

    type_: ImageAttachmentType
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
        type_ = ImageAttachmentType(d.pop("type"))

        url = d.pop("url")

        image_attachment = cls(
            type_=type_,
            url=url,
        )

        return image_attachment

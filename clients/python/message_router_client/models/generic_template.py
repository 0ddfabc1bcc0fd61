from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.card import Card


T = TypeVar("T", bound="GenericTemplate")


@_attrs_define
class GenericTemplate:
    """Cards with image, title, subtitle and up to three buttons each: one card, or a carousel of up
    to ten.

        Attributes:
            elements (list[Card]):
    """

    elements: list[Card]

    def to_dict(self) -> dict[str, Any]:
        elements = []
        for elements_item_data in self.elements:
            elements_item = elements_item_data.to_dict()
            elements.append(elements_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "elements": elements,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.card import Card  # noqa: PLC0415

        d = dict(src_dict)
        elements = []
        _elements = d.pop("elements")
        for elements_item_data in _elements:
            elements_item = Card.from_dict(elements_item_data)

            elements.append(elements_item)

        generic_template = cls(
            elements=elements,
        )

        return generic_template

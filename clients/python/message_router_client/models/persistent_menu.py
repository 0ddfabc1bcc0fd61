from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.button_type_0 import ButtonType0
    from ..models.button_type_1 import ButtonType1


T = TypeVar("T", bound="PersistentMenu")


@_attrs_define
class PersistentMenu:
    """An account's persistent menu: 1–20 `web_url` or `postback` buttons.

    Attributes:
        items (list[ButtonType0 | ButtonType1]):
    """

    items: list[ButtonType0 | ButtonType1]

    def to_dict(self) -> dict[str, Any]:
        from ..models.button_type_0 import ButtonType0  # noqa: PLC0415

        items = []
        for items_item_data in self.items:
            items_item: dict[str, Any]
            if isinstance(items_item_data, ButtonType0):
                items_item = items_item_data.to_dict()
            else:
                items_item = items_item_data.to_dict()

            items.append(items_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "items": items,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.button_type_0 import ButtonType0  # noqa: PLC0415
        from ..models.button_type_1 import ButtonType1  # noqa: PLC0415

        d = dict(src_dict)
        items = []
        _items = d.pop("items")
        for items_item_data in _items:

            def _parse_items_item(data: object) -> ButtonType0 | ButtonType1:
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_button_type_0 = ButtonType0.from_dict(data)

                    return componentsschemas_button_type_0
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_button_type_1 = ButtonType1.from_dict(data)

                return componentsschemas_button_type_1

            items_item = _parse_items_item(items_item_data)

            items.append(items_item)

        persistent_menu = cls(
            items=items,
        )

        return persistent_menu

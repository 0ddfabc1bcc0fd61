from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.button_type_0 import ButtonType0
    from ..models.button_type_1 import ButtonType1


T = TypeVar("T", bound="ButtonTemplate")


@_attrs_define
class ButtonTemplate:
    """A text (1–640 characters) with one to three buttons.

    Attributes:
        buttons (list[ButtonType0 | ButtonType1]):
        text (str):
    """

    buttons: list[ButtonType0 | ButtonType1]
    text: str

    def to_dict(self) -> dict[str, Any]:
        from ..models.button_type_0 import ButtonType0  # noqa: PLC0415

        buttons = []
        for buttons_item_data in self.buttons:
            buttons_item: dict[str, Any]
            if isinstance(buttons_item_data, ButtonType0):
                buttons_item = buttons_item_data.to_dict()
            else:
                buttons_item = buttons_item_data.to_dict()

            buttons.append(buttons_item)

        text = self.text

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "buttons": buttons,
                "text": text,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.button_type_0 import ButtonType0  # noqa: PLC0415
        from ..models.button_type_1 import ButtonType1  # noqa: PLC0415

        d = dict(src_dict)
        buttons = []
        _buttons = d.pop("buttons")
        for buttons_item_data in _buttons:

            def _parse_buttons_item(data: object) -> ButtonType0 | ButtonType1:
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

            buttons_item = _parse_buttons_item(buttons_item_data)

            buttons.append(buttons_item)

        text = d.pop("text")

        button_template = cls(
            buttons=buttons,
            text=text,
        )

        return button_template

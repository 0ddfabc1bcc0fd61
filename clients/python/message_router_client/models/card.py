from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.button_type_0 import ButtonType0
    from ..models.button_type_1 import ButtonType1


T = TypeVar("T", bound="Card")


@_attrs_define
class Card:
    """One card of a generic template (a carousel when there are several).

    Attributes:
        title (str): 1–80 characters.
        buttons (list[ButtonType0 | ButtonType1] | Unset): Up to three.
        default_action_url (None | str | Unset): Opened when the card itself is tapped (http or https).
        image_url (None | str | Unset): An http(s) image URL (Meta fetches it; it is not checked before the send).
        subtitle (None | str | Unset): At most 80 characters.
    """

    title: str
    buttons: list[ButtonType0 | ButtonType1] | Unset = UNSET
    default_action_url: None | str | Unset = UNSET
    image_url: None | str | Unset = UNSET
    subtitle: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.button_type_0 import ButtonType0  # noqa: PLC0415

        title = self.title

        buttons: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.buttons, Unset):
            buttons = []
            for buttons_item_data in self.buttons:
                buttons_item: dict[str, Any]
                if isinstance(buttons_item_data, ButtonType0):
                    buttons_item = buttons_item_data.to_dict()
                else:
                    buttons_item = buttons_item_data.to_dict()

                buttons.append(buttons_item)

        default_action_url: None | str | Unset
        if isinstance(self.default_action_url, Unset):
            default_action_url = UNSET
        else:
            default_action_url = self.default_action_url

        image_url: None | str | Unset
        if isinstance(self.image_url, Unset):
            image_url = UNSET
        else:
            image_url = self.image_url

        subtitle: None | str | Unset
        if isinstance(self.subtitle, Unset):
            subtitle = UNSET
        else:
            subtitle = self.subtitle

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "title": title,
            }
        )
        if buttons is not UNSET:
            field_dict["buttons"] = buttons
        if default_action_url is not UNSET:
            field_dict["default_action_url"] = default_action_url
        if image_url is not UNSET:
            field_dict["image_url"] = image_url
        if subtitle is not UNSET:
            field_dict["subtitle"] = subtitle

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.button_type_0 import ButtonType0  # noqa: PLC0415
        from ..models.button_type_1 import ButtonType1  # noqa: PLC0415

        d = dict(src_dict)
        title = d.pop("title")

        _buttons = d.pop("buttons", UNSET)
        buttons: list[ButtonType0 | ButtonType1] | Unset = UNSET
        if _buttons is not UNSET:
            buttons = []
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

        def _parse_default_action_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        default_action_url = _parse_default_action_url(d.pop("default_action_url", UNSET))

        def _parse_image_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        image_url = _parse_image_url(d.pop("image_url", UNSET))

        def _parse_subtitle(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        subtitle = _parse_subtitle(d.pop("subtitle", UNSET))

        card = cls(
            title=title,
            buttons=buttons,
            default_action_url=default_action_url,
            image_url=image_url,
            subtitle=subtitle,
        )

        return card

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.attachment import Attachment
    from ..models.button_type_0 import ButtonType0
    from ..models.button_type_1 import ButtonType1
    from ..models.image_attachment import ImageAttachment
    from ..models.quick_reply import QuickReply
    from ..models.template_variable import TemplateVariable


T = TypeVar("T", bound="TemplateRequest")


@_attrs_define
class TemplateRequest:
    """Body of `PUT /templates/{name}`: the next version's full definition.

    Attributes:
        body (str): The text, with `{{variable}}` placeholders (at most 4 KB). Every placeholder must be
            declared in `variables` and every variable used; the fixed text alone must fit a message
            (1 000 characters, 2 KB).
        attachment (Attachment | None | Unset):
        attachments (list[ImageAttachment] | None | Unset): Up to ten images; instead of `attachment`.
        buttons (list[ButtonType0 | ButtonType1] | None | Unset): One to three buttons: the message is then sent as a
            button template, its rendered text
            (at most 640 characters) above the buttons. Not with quick replies or attachments.
        quick_replies (list[QuickReply] | None | Unset): Sent with every message of this template, as in `POST
            /messages/send`.
        variables (list[TemplateVariable] | Unset): The variables the body uses (at most 20).
    """

    body: str
    attachment: Attachment | None | Unset = UNSET
    attachments: list[ImageAttachment] | None | Unset = UNSET
    buttons: list[ButtonType0 | ButtonType1] | None | Unset = UNSET
    quick_replies: list[QuickReply] | None | Unset = UNSET
    variables: list[TemplateVariable] | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.attachment import Attachment  # noqa: PLC0415
        from ..models.button_type_0 import ButtonType0  # noqa: PLC0415

        body = self.body

        attachment: dict[str, Any] | None | Unset
        if isinstance(self.attachment, Unset):
            attachment = UNSET
        elif isinstance(self.attachment, Attachment):
            attachment = self.attachment.to_dict()
        else:
            attachment = self.attachment

        attachments: list[dict[str, Any]] | None | Unset
        if isinstance(self.attachments, Unset):
            attachments = UNSET
        elif isinstance(self.attachments, list):
            attachments = []
            for attachments_type_0_item_data in self.attachments:
                attachments_type_0_item = attachments_type_0_item_data.to_dict()
                attachments.append(attachments_type_0_item)

        else:
            attachments = self.attachments

        buttons: list[dict[str, Any]] | None | Unset
        if isinstance(self.buttons, Unset):
            buttons = UNSET
        elif isinstance(self.buttons, list):
            buttons = []
            for buttons_type_0_item_data in self.buttons:
                buttons_type_0_item: dict[str, Any]
                if isinstance(buttons_type_0_item_data, ButtonType0):
                    buttons_type_0_item = buttons_type_0_item_data.to_dict()
                else:
                    buttons_type_0_item = buttons_type_0_item_data.to_dict()

                buttons.append(buttons_type_0_item)

        else:
            buttons = self.buttons

        quick_replies: list[dict[str, Any]] | None | Unset
        if isinstance(self.quick_replies, Unset):
            quick_replies = UNSET
        elif isinstance(self.quick_replies, list):
            quick_replies = []
            for quick_replies_type_0_item_data in self.quick_replies:
                quick_replies_type_0_item = quick_replies_type_0_item_data.to_dict()
                quick_replies.append(quick_replies_type_0_item)

        else:
            quick_replies = self.quick_replies

        variables: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.variables, Unset):
            variables = []
            for variables_item_data in self.variables:
                variables_item = variables_item_data.to_dict()
                variables.append(variables_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "body": body,
            }
        )
        if attachment is not UNSET:
            field_dict["attachment"] = attachment
        if attachments is not UNSET:
            field_dict["attachments"] = attachments
        if buttons is not UNSET:
            field_dict["buttons"] = buttons
        if quick_replies is not UNSET:
            field_dict["quick_replies"] = quick_replies
        if variables is not UNSET:
            field_dict["variables"] = variables

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.attachment import Attachment  # noqa: PLC0415
        from ..models.button_type_0 import ButtonType0  # noqa: PLC0415
        from ..models.button_type_1 import ButtonType1  # noqa: PLC0415
        from ..models.image_attachment import ImageAttachment  # noqa: PLC0415
        from ..models.quick_reply import QuickReply  # noqa: PLC0415
        from ..models.template_variable import TemplateVariable  # noqa: PLC0415

        d = dict(src_dict)
        body = d.pop("body")

        def _parse_attachment(data: object) -> Attachment | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                attachment_type_1 = Attachment.from_dict(data)

                return attachment_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Attachment | None | Unset, data)

        attachment = _parse_attachment(d.pop("attachment", UNSET))

        def _parse_attachments(data: object) -> list[ImageAttachment] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                attachments_type_0 = []
                _attachments_type_0 = data
                for attachments_type_0_item_data in _attachments_type_0:
                    attachments_type_0_item = ImageAttachment.from_dict(attachments_type_0_item_data)

                    attachments_type_0.append(attachments_type_0_item)

                return attachments_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[ImageAttachment] | None | Unset, data)

        attachments = _parse_attachments(d.pop("attachments", UNSET))

        def _parse_buttons(data: object) -> list[ButtonType0 | ButtonType1] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                buttons_type_0 = []
                _buttons_type_0 = data
                for buttons_type_0_item_data in _buttons_type_0:

                    def _parse_buttons_type_0_item(data: object) -> ButtonType0 | ButtonType1:
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

                    buttons_type_0_item = _parse_buttons_type_0_item(buttons_type_0_item_data)

                    buttons_type_0.append(buttons_type_0_item)

                return buttons_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[ButtonType0 | ButtonType1] | None | Unset, data)

        buttons = _parse_buttons(d.pop("buttons", UNSET))

        def _parse_quick_replies(data: object) -> list[QuickReply] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                quick_replies_type_0 = []
                _quick_replies_type_0 = data
                for quick_replies_type_0_item_data in _quick_replies_type_0:
                    quick_replies_type_0_item = QuickReply.from_dict(quick_replies_type_0_item_data)

                    quick_replies_type_0.append(quick_replies_type_0_item)

                return quick_replies_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[QuickReply] | None | Unset, data)

        quick_replies = _parse_quick_replies(d.pop("quick_replies", UNSET))

        _variables = d.pop("variables", UNSET)
        variables: list[TemplateVariable] | Unset = UNSET
        if _variables is not UNSET:
            variables = []
            for variables_item_data in _variables:
                variables_item = TemplateVariable.from_dict(variables_item_data)

                variables.append(variables_item)

        template_request = cls(
            body=body,
            attachment=attachment,
            attachments=attachments,
            buttons=buttons,
            quick_replies=quick_replies,
            variables=variables,
        )

        return template_request

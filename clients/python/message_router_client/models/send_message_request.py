from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..models.send_message_request_tag_type_1 import SendMessageRequestTagType1
from ..models.send_message_request_tag_type_2_type_1 import SendMessageRequestTagType2Type1
from ..models.send_message_request_tag_type_3_type_1 import SendMessageRequestTagType3Type1
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.attachment import Attachment
    from ..models.button_template import ButtonTemplate
    from ..models.generic_template import GenericTemplate
    from ..models.image_attachment import ImageAttachment
    from ..models.quick_reply import QuickReply
    from ..models.send_message_request_variables_type_0 import SendMessageRequestVariablesType0


T = TypeVar("T", bound="SendMessageRequest")


@_attrs_define
class SendMessageRequest:
    """Body of `POST /messages/send`.

    Attributes:
        account_id (UUID): The sending account (`account_id` from `/accounts`).
        recipient_id (str): The customer's Instagram-scoped id (IGSID), the `sender_id` of their messages.
        attachment (Attachment | None | Unset):
        attachments (list[ImageAttachment] | None | Unset): Up to ten images sent as one Instagram message (each `type`
            must be `image`); instead of
            `attachment`, not with it.
        button_template (ButtonTemplate | None | Unset):
        generic_template (GenericTemplate | None | Unset):
        idempotency_key (None | str | Unset): Deduplicates retries of this request for 24 h (or use the `Idempotency-
            Key` header).
        like_heart (bool | None | Unset): `true`: send Instagram's heart sticker (instead of an attachment).
        message (None | str | Unset): Text, 1–1000 characters and at most 2 KB of UTF-8. Longer than Instagram's 1000
            bytes, it
            is sent as consecutive messages.
        metadata (Any | Unset): Yours, returned in status webhooks; JSON up to 16 KB.
        quick_replies (list[QuickReply] | None | Unset):
        tag (None | SendMessageRequestTagType1 | SendMessageRequestTagType2Type1 | SendMessageRequestTagType3Type1 |
            Unset): `HUMAN_AGENT` allows replies 24 h–7 days after the customer's last message.
        template (None | str | Unset): Send a stored template (`/templates`) instead of `message`: its rendered text,
            quick
            replies and attachment. Not with `message`, `attachment(s)` or `quick_replies`.
        template_version (int | None | Unset): The template version to use (default: the latest).
        variables (None | SendMessageRequestVariablesType0 | Unset): The template's variables by name: exactly those it
            declares, each of its declared type.
    """

    account_id: UUID
    recipient_id: str
    attachment: Attachment | None | Unset = UNSET
    attachments: list[ImageAttachment] | None | Unset = UNSET
    button_template: ButtonTemplate | None | Unset = UNSET
    generic_template: GenericTemplate | None | Unset = UNSET
    idempotency_key: None | str | Unset = UNSET
    like_heart: bool | None | Unset = UNSET
    message: None | str | Unset = UNSET
    metadata: Any | Unset = UNSET
    quick_replies: list[QuickReply] | None | Unset = UNSET
    tag: (
        None | SendMessageRequestTagType1 | SendMessageRequestTagType2Type1 | SendMessageRequestTagType3Type1 | Unset
    ) = UNSET
    template: None | str | Unset = UNSET
    template_version: int | None | Unset = UNSET
    variables: None | SendMessageRequestVariablesType0 | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.attachment import Attachment  # noqa: PLC0415
        from ..models.button_template import ButtonTemplate  # noqa: PLC0415
        from ..models.generic_template import GenericTemplate  # noqa: PLC0415
        from ..models.send_message_request_variables_type_0 import SendMessageRequestVariablesType0  # noqa: PLC0415

        account_id = str(self.account_id)

        recipient_id = self.recipient_id

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

        button_template: dict[str, Any] | None | Unset
        if isinstance(self.button_template, Unset):
            button_template = UNSET
        elif isinstance(self.button_template, ButtonTemplate):
            button_template = self.button_template.to_dict()
        else:
            button_template = self.button_template

        generic_template: dict[str, Any] | None | Unset
        if isinstance(self.generic_template, Unset):
            generic_template = UNSET
        elif isinstance(self.generic_template, GenericTemplate):
            generic_template = self.generic_template.to_dict()
        else:
            generic_template = self.generic_template

        idempotency_key: None | str | Unset
        if isinstance(self.idempotency_key, Unset):
            idempotency_key = UNSET
        else:
            idempotency_key = self.idempotency_key

        like_heart: bool | None | Unset
        if isinstance(self.like_heart, Unset):
            like_heart = UNSET
        else:
            like_heart = self.like_heart

        message: None | str | Unset
        if isinstance(self.message, Unset):
            message = UNSET
        else:
            message = self.message

        metadata = self.metadata

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

        tag: None | str | Unset
        if isinstance(self.tag, Unset):
            tag = UNSET
        elif isinstance(self.tag, SendMessageRequestTagType1):
            tag = self.tag.value
        elif isinstance(self.tag, SendMessageRequestTagType2Type1):
            tag = self.tag.value
        elif isinstance(self.tag, SendMessageRequestTagType3Type1):
            tag = self.tag.value
        else:
            tag = self.tag

        template: None | str | Unset
        if isinstance(self.template, Unset):
            template = UNSET
        else:
            template = self.template

        template_version: int | None | Unset
        if isinstance(self.template_version, Unset):
            template_version = UNSET
        else:
            template_version = self.template_version

        variables: dict[str, Any] | None | Unset
        if isinstance(self.variables, Unset):
            variables = UNSET
        elif isinstance(self.variables, SendMessageRequestVariablesType0):
            variables = self.variables.to_dict()
        else:
            variables = self.variables

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "account_id": account_id,
                "recipient_id": recipient_id,
            }
        )
        if attachment is not UNSET:
            field_dict["attachment"] = attachment
        if attachments is not UNSET:
            field_dict["attachments"] = attachments
        if button_template is not UNSET:
            field_dict["button_template"] = button_template
        if generic_template is not UNSET:
            field_dict["generic_template"] = generic_template
        if idempotency_key is not UNSET:
            field_dict["idempotency_key"] = idempotency_key
        if like_heart is not UNSET:
            field_dict["like_heart"] = like_heart
        if message is not UNSET:
            field_dict["message"] = message
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if quick_replies is not UNSET:
            field_dict["quick_replies"] = quick_replies
        if tag is not UNSET:
            field_dict["tag"] = tag
        if template is not UNSET:
            field_dict["template"] = template
        if template_version is not UNSET:
            field_dict["template_version"] = template_version
        if variables is not UNSET:
            field_dict["variables"] = variables

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.attachment import Attachment  # noqa: PLC0415
        from ..models.button_template import ButtonTemplate  # noqa: PLC0415
        from ..models.generic_template import GenericTemplate  # noqa: PLC0415
        from ..models.image_attachment import ImageAttachment  # noqa: PLC0415
        from ..models.quick_reply import QuickReply  # noqa: PLC0415
        from ..models.send_message_request_variables_type_0 import SendMessageRequestVariablesType0  # noqa: PLC0415

        d = dict(src_dict)
        account_id = UUID(d.pop("account_id"))

        recipient_id = d.pop("recipient_id")

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

        def _parse_button_template(data: object) -> ButtonTemplate | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                button_template_type_1 = ButtonTemplate.from_dict(data)

                return button_template_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ButtonTemplate | None | Unset, data)

        button_template = _parse_button_template(d.pop("button_template", UNSET))

        def _parse_generic_template(data: object) -> GenericTemplate | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                generic_template_type_1 = GenericTemplate.from_dict(data)

                return generic_template_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(GenericTemplate | None | Unset, data)

        generic_template = _parse_generic_template(d.pop("generic_template", UNSET))

        def _parse_idempotency_key(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        idempotency_key = _parse_idempotency_key(d.pop("idempotency_key", UNSET))

        def _parse_like_heart(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        like_heart = _parse_like_heart(d.pop("like_heart", UNSET))

        def _parse_message(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        message = _parse_message(d.pop("message", UNSET))

        metadata = d.pop("metadata", UNSET)

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

        def _parse_tag(
            data: object,
        ) -> (
            None
            | SendMessageRequestTagType1
            | SendMessageRequestTagType2Type1
            | SendMessageRequestTagType3Type1
            | Unset
        ):
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                tag_type_1 = SendMessageRequestTagType1(data)

                return tag_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                tag_type_2_type_1 = SendMessageRequestTagType2Type1(data)

                return tag_type_2_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                tag_type_3_type_1 = SendMessageRequestTagType3Type1(data)

                return tag_type_3_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(
                None
                | SendMessageRequestTagType1
                | SendMessageRequestTagType2Type1
                | SendMessageRequestTagType3Type1
                | Unset,
                data,
            )

        tag = _parse_tag(d.pop("tag", UNSET))

        def _parse_template(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        template = _parse_template(d.pop("template", UNSET))

        def _parse_template_version(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        template_version = _parse_template_version(d.pop("template_version", UNSET))

        def _parse_variables(data: object) -> None | SendMessageRequestVariablesType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                variables_type_0 = SendMessageRequestVariablesType0.from_dict(data)

                return variables_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | SendMessageRequestVariablesType0 | Unset, data)

        variables = _parse_variables(d.pop("variables", UNSET))

        send_message_request = cls(
            account_id=account_id,
            recipient_id=recipient_id,
            attachment=attachment,
            attachments=attachments,
            button_template=button_template,
            generic_template=generic_template,
            idempotency_key=idempotency_key,
            like_heart=like_heart,
            message=message,
            metadata=metadata,
            quick_replies=quick_replies,
            tag=tag,
            template=template,
            template_version=template_version,
            variables=variables,
        )

        return send_message_request

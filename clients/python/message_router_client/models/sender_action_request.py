from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..models.sender_action_request_action import SenderActionRequestAction
from ..types import UNSET, Unset

T = TypeVar("T", bound="SenderActionRequest")


@_attrs_define
class SenderActionRequest:
    """Body of `POST /messages/actions`.

    Attributes:
        account_id (UUID):
        action (SenderActionRequestAction): `typing_on`, `typing_off`, `mark_seen`, `react` or `unreact`.
        recipient_id (str): The customer's IGSID.
        instagram_message_id (None | str | Unset): `react` and `unreact`: the customer's message (its
            `instagram_message_id`).
        reaction (None | str | Unset): `react`: `love` or an emoji (at most 16 characters).
    """

    account_id: UUID
    action: SenderActionRequestAction
    recipient_id: str
    instagram_message_id: None | str | Unset = UNSET
    reaction: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        account_id = str(self.account_id)

        action = self.action.value

        recipient_id = self.recipient_id

        instagram_message_id: None | str | Unset
        if isinstance(self.instagram_message_id, Unset):
            instagram_message_id = UNSET
        else:
            instagram_message_id = self.instagram_message_id

        reaction: None | str | Unset
        if isinstance(self.reaction, Unset):
            reaction = UNSET
        else:
            reaction = self.reaction

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "account_id": account_id,
                "action": action,
                "recipient_id": recipient_id,
            }
        )
        if instagram_message_id is not UNSET:
            field_dict["instagram_message_id"] = instagram_message_id
        if reaction is not UNSET:
            field_dict["reaction"] = reaction

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        account_id = UUID(d.pop("account_id"))

        action = SenderActionRequestAction(d.pop("action"))

        recipient_id = d.pop("recipient_id")

        def _parse_instagram_message_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        instagram_message_id = _parse_instagram_message_id(d.pop("instagram_message_id", UNSET))

        def _parse_reaction(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reaction = _parse_reaction(d.pop("reaction", UNSET))

        sender_action_request = cls(
            account_id=account_id,
            action=action,
            recipient_id=recipient_id,
            instagram_message_id=instagram_message_id,
            reaction=reaction,
        )

        return sender_action_request

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.create_account_request_event_types_type_0_item import CreateAccountRequestEventTypesType0Item
from ..types import UNSET, Unset

T = TypeVar("T", bound="CreateAccountRequest")


@_attrs_define
class CreateAccountRequest:
    """Body of `POST /accounts`.

    Attributes:
        access_token (str): A long-lived Instagram User access token.
        crm_webhook_url (str): Where the router delivers this account's CRM webhooks.
        instagram_account_id (str): The Instagram professional account id (`user_id` of `GET /me`; `recipient.id` in
            webhooks).
        username (str): Instagram username (display).
        webhook_secret (str): Shared signing secret (16–256 characters; `whsec_<base64>` recommended).
        app_secret (None | str | Unset): The app secret that signs this account's webhooks, when it differs from the
            platform's.
        event_types (list[CreateAccountRequestEventTypesType0Item] | None | Unset): Only deliver these event types (omit
            for all).
        token_expires_at (datetime.datetime | None | Unset): When the token expires, if known (RFC 3339).
    """

    access_token: str
    crm_webhook_url: str
    instagram_account_id: str
    username: str
    webhook_secret: str
    app_secret: None | str | Unset = UNSET
    event_types: list[CreateAccountRequestEventTypesType0Item] | None | Unset = UNSET
    token_expires_at: datetime.datetime | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        access_token = self.access_token

        crm_webhook_url = self.crm_webhook_url

        instagram_account_id = self.instagram_account_id

        username = self.username

        webhook_secret = self.webhook_secret

        app_secret: None | str | Unset
        if isinstance(self.app_secret, Unset):
            app_secret = UNSET
        else:
            app_secret = self.app_secret

        event_types: list[str] | None | Unset
        if isinstance(self.event_types, Unset):
            event_types = UNSET
        elif isinstance(self.event_types, list):
            event_types = []
            for event_types_type_0_item_data in self.event_types:
                event_types_type_0_item = event_types_type_0_item_data.value
                event_types.append(event_types_type_0_item)

        else:
            event_types = self.event_types

        token_expires_at: None | str | Unset
        if isinstance(self.token_expires_at, Unset):
            token_expires_at = UNSET
        elif isinstance(self.token_expires_at, datetime.datetime):
            token_expires_at = self.token_expires_at.isoformat()
        else:
            token_expires_at = self.token_expires_at

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "access_token": access_token,
                "crm_webhook_url": crm_webhook_url,
                "instagram_account_id": instagram_account_id,
                "username": username,
                "webhook_secret": webhook_secret,
            }
        )
        if app_secret is not UNSET:
            field_dict["app_secret"] = app_secret
        if event_types is not UNSET:
            field_dict["event_types"] = event_types
        if token_expires_at is not UNSET:
            field_dict["token_expires_at"] = token_expires_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        access_token = d.pop("access_token")

        crm_webhook_url = d.pop("crm_webhook_url")

        instagram_account_id = d.pop("instagram_account_id")

        username = d.pop("username")

        webhook_secret = d.pop("webhook_secret")

        def _parse_app_secret(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        app_secret = _parse_app_secret(d.pop("app_secret", UNSET))

        def _parse_event_types(data: object) -> list[CreateAccountRequestEventTypesType0Item] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                event_types_type_0 = []
                _event_types_type_0 = data
                for event_types_type_0_item_data in _event_types_type_0:
                    event_types_type_0_item = CreateAccountRequestEventTypesType0Item(event_types_type_0_item_data)

                    event_types_type_0.append(event_types_type_0_item)

                return event_types_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[CreateAccountRequestEventTypesType0Item] | None | Unset, data)

        event_types = _parse_event_types(d.pop("event_types", UNSET))

        def _parse_token_expires_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                token_expires_at_type_0 = datetime.datetime.fromisoformat(data)

                return token_expires_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        token_expires_at = _parse_token_expires_at(d.pop("token_expires_at", UNSET))

        create_account_request = cls(
            access_token=access_token,
            crm_webhook_url=crm_webhook_url,
            instagram_account_id=instagram_account_id,
            username=username,
            webhook_secret=webhook_secret,
            app_secret=app_secret,
            event_types=event_types,
            token_expires_at=token_expires_at,
        )

        return create_account_request

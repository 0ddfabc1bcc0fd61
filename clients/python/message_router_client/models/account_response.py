from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="AccountResponse")


@_attrs_define
class AccountResponse:
    """An account. Tokens and secrets are never returned.

    Attributes:
        account_id (UUID):
        created_at (datetime.datetime):
        instagram_account_id (str):
        sandbox (bool): Created with a `router_test_` key: served by the sandbox Graph API.
        status (str): `active`, `inactive`, `error` (e.g. token invalid: re-authenticate) or `deleted`.
        updated_at (datetime.datetime):
        username (str):
        crm_webhook_url (None | str | Unset):
        event_types (list[str] | None | Unset):
        status_reason (None | str | Unset):
        token_expires_at (datetime.datetime | None | Unset):
        webhook_status (None | str | Unset): `active` or `disabled` (the CRM answered 410).
    """

    account_id: UUID
    created_at: datetime.datetime
    instagram_account_id: str
    sandbox: bool
    status: str
    updated_at: datetime.datetime
    username: str
    crm_webhook_url: None | str | Unset = UNSET
    event_types: list[str] | None | Unset = UNSET
    status_reason: None | str | Unset = UNSET
    token_expires_at: datetime.datetime | None | Unset = UNSET
    webhook_status: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        account_id = str(self.account_id)

        created_at = self.created_at.isoformat()

        instagram_account_id = self.instagram_account_id

        sandbox = self.sandbox

        status = self.status

        updated_at = self.updated_at.isoformat()

        username = self.username

        crm_webhook_url: None | str | Unset
        if isinstance(self.crm_webhook_url, Unset):
            crm_webhook_url = UNSET
        else:
            crm_webhook_url = self.crm_webhook_url

        event_types: list[str] | None | Unset
        if isinstance(self.event_types, Unset):
            event_types = UNSET
        elif isinstance(self.event_types, list):
            event_types = self.event_types

        else:
            event_types = self.event_types

        status_reason: None | str | Unset
        if isinstance(self.status_reason, Unset):
            status_reason = UNSET
        else:
            status_reason = self.status_reason

        token_expires_at: None | str | Unset
        if isinstance(self.token_expires_at, Unset):
            token_expires_at = UNSET
        elif isinstance(self.token_expires_at, datetime.datetime):
            token_expires_at = self.token_expires_at.isoformat()
        else:
            token_expires_at = self.token_expires_at

        webhook_status: None | str | Unset
        if isinstance(self.webhook_status, Unset):
            webhook_status = UNSET
        else:
            webhook_status = self.webhook_status

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "account_id": account_id,
                "created_at": created_at,
                "instagram_account_id": instagram_account_id,
                "sandbox": sandbox,
                "status": status,
                "updated_at": updated_at,
                "username": username,
            }
        )
        if crm_webhook_url is not UNSET:
            field_dict["crm_webhook_url"] = crm_webhook_url
        if event_types is not UNSET:
            field_dict["event_types"] = event_types
        if status_reason is not UNSET:
            field_dict["status_reason"] = status_reason
        if token_expires_at is not UNSET:
            field_dict["token_expires_at"] = token_expires_at
        if webhook_status is not UNSET:
            field_dict["webhook_status"] = webhook_status

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        account_id = UUID(d.pop("account_id"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        instagram_account_id = d.pop("instagram_account_id")

        sandbox = d.pop("sandbox")

        status = d.pop("status")

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        username = d.pop("username")

        def _parse_crm_webhook_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        crm_webhook_url = _parse_crm_webhook_url(d.pop("crm_webhook_url", UNSET))

        def _parse_event_types(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                event_types_type_0 = cast(list[str], data)

                return event_types_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        event_types = _parse_event_types(d.pop("event_types", UNSET))

        def _parse_status_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        status_reason = _parse_status_reason(d.pop("status_reason", UNSET))

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

        def _parse_webhook_status(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        webhook_status = _parse_webhook_status(d.pop("webhook_status", UNSET))

        account_response = cls(
            account_id=account_id,
            created_at=created_at,
            instagram_account_id=instagram_account_id,
            sandbox=sandbox,
            status=status,
            updated_at=updated_at,
            username=username,
            crm_webhook_url=crm_webhook_url,
            event_types=event_types,
            status_reason=status_reason,
            token_expires_at=token_expires_at,
            webhook_status=webhook_status,
        )

        account_response.additional_properties = d
        return account_response

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties

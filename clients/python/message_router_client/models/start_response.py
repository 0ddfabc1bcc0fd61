from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="StartResponse")


@_attrs_define
class StartResponse:
    """Answer of `GET /oauth/instagram/start`.

    Attributes:
        authorize_url (str): Send the merchant's browser here (full-page redirect, not a popup).
        expires_at (datetime.datetime):
        state (str): Opaque; valid once, for 10 minutes.
        webhook_secret (None | str | Unset): The signing secret of the CRM endpoint that will be created, when
            `crm_webhook_url` was
            given. Store it now: it is not shown again.
    """

    authorize_url: str
    expires_at: datetime.datetime
    state: str
    webhook_secret: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        authorize_url = self.authorize_url

        expires_at = self.expires_at.isoformat()

        state = self.state

        webhook_secret: None | str | Unset
        if isinstance(self.webhook_secret, Unset):
            webhook_secret = UNSET
        else:
            webhook_secret = self.webhook_secret

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "authorize_url": authorize_url,
                "expires_at": expires_at,
                "state": state,
            }
        )
        if webhook_secret is not UNSET:
            field_dict["webhook_secret"] = webhook_secret

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        authorize_url = d.pop("authorize_url")

        expires_at = datetime.datetime.fromisoformat(d.pop("expires_at"))

        state = d.pop("state")

        def _parse_webhook_secret(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        webhook_secret = _parse_webhook_secret(d.pop("webhook_secret", UNSET))

        start_response = cls(
            authorize_url=authorize_url,
            expires_at=expires_at,
            state=state,
            webhook_secret=webhook_secret,
        )

        start_response.additional_properties = d
        return start_response

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

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.update_account_request_event_types_type_0_item import UpdateAccountRequestEventTypesType0Item
from ..models.update_account_request_status_type_1 import UpdateAccountRequestStatusType1
from ..models.update_account_request_status_type_2_type_1 import UpdateAccountRequestStatusType2Type1
from ..models.update_account_request_status_type_3_type_1 import UpdateAccountRequestStatusType3Type1
from ..types import UNSET, Unset

T = TypeVar("T", bound="UpdateAccountRequest")


@_attrs_define
class UpdateAccountRequest:
    """Body of `PUT /accounts/{id}`: every field optional.

    Attributes:
        access_token (None | str | Unset): A new token (validated with Meta); re-activates an account in `error`.
        app_secret (None | str | Unset):
        crm_webhook_url (None | str | Unset):
        event_types (list[UpdateAccountRequestEventTypesType0Item] | None | Unset): Replace the event filter (`[]` or
            null for all events).
        status (None | Unset | UpdateAccountRequestStatusType1 | UpdateAccountRequestStatusType2Type1 |
            UpdateAccountRequestStatusType3Type1): `active` or `inactive`.
        webhook_secret (None | str | Unset): A new signing secret; the old one keeps signing alongside for the overlap
            period.
    """

    access_token: None | str | Unset = UNSET
    app_secret: None | str | Unset = UNSET
    crm_webhook_url: None | str | Unset = UNSET
    event_types: list[UpdateAccountRequestEventTypesType0Item] | None | Unset = UNSET
    status: (
        None
        | Unset
        | UpdateAccountRequestStatusType1
        | UpdateAccountRequestStatusType2Type1
        | UpdateAccountRequestStatusType3Type1
    ) = UNSET
    webhook_secret: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        access_token: None | str | Unset
        if isinstance(self.access_token, Unset):
            access_token = UNSET
        else:
            access_token = self.access_token

        app_secret: None | str | Unset
        if isinstance(self.app_secret, Unset):
            app_secret = UNSET
        else:
            app_secret = self.app_secret

        crm_webhook_url: None | str | Unset
        if isinstance(self.crm_webhook_url, Unset):
            crm_webhook_url = UNSET
        else:
            crm_webhook_url = self.crm_webhook_url

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

        status: None | str | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        elif isinstance(self.status, UpdateAccountRequestStatusType1):
            status = self.status.value
        elif isinstance(self.status, UpdateAccountRequestStatusType2Type1):
            status = self.status.value
        elif isinstance(self.status, UpdateAccountRequestStatusType3Type1):
            status = self.status.value
        else:
            status = self.status

        webhook_secret: None | str | Unset
        if isinstance(self.webhook_secret, Unset):
            webhook_secret = UNSET
        else:
            webhook_secret = self.webhook_secret

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if access_token is not UNSET:
            field_dict["access_token"] = access_token
        if app_secret is not UNSET:
            field_dict["app_secret"] = app_secret
        if crm_webhook_url is not UNSET:
            field_dict["crm_webhook_url"] = crm_webhook_url
        if event_types is not UNSET:
            field_dict["event_types"] = event_types
        if status is not UNSET:
            field_dict["status"] = status
        if webhook_secret is not UNSET:
            field_dict["webhook_secret"] = webhook_secret

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_access_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        access_token = _parse_access_token(d.pop("access_token", UNSET))

        def _parse_app_secret(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        app_secret = _parse_app_secret(d.pop("app_secret", UNSET))

        def _parse_crm_webhook_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        crm_webhook_url = _parse_crm_webhook_url(d.pop("crm_webhook_url", UNSET))

        def _parse_event_types(data: object) -> list[UpdateAccountRequestEventTypesType0Item] | None | Unset:
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
                    event_types_type_0_item = UpdateAccountRequestEventTypesType0Item(event_types_type_0_item_data)

                    event_types_type_0.append(event_types_type_0_item)

                return event_types_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[UpdateAccountRequestEventTypesType0Item] | None | Unset, data)

        event_types = _parse_event_types(d.pop("event_types", UNSET))

        def _parse_status(
            data: object,
        ) -> (
            None
            | Unset
            | UpdateAccountRequestStatusType1
            | UpdateAccountRequestStatusType2Type1
            | UpdateAccountRequestStatusType3Type1
        ):
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                status_type_1 = UpdateAccountRequestStatusType1(data)

                return status_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                status_type_2_type_1 = UpdateAccountRequestStatusType2Type1(data)

                return status_type_2_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                status_type_3_type_1 = UpdateAccountRequestStatusType3Type1(data)

                return status_type_3_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(
                None
                | Unset
                | UpdateAccountRequestStatusType1
                | UpdateAccountRequestStatusType2Type1
                | UpdateAccountRequestStatusType3Type1,
                data,
            )

        status = _parse_status(d.pop("status", UNSET))

        def _parse_webhook_secret(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        webhook_secret = _parse_webhook_secret(d.pop("webhook_secret", UNSET))

        update_account_request = cls(
            access_token=access_token,
            app_secret=app_secret,
            crm_webhook_url=crm_webhook_url,
            event_types=event_types,
            status=status,
            webhook_secret=webhook_secret,
        )

        return update_account_request

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="EndpointResponse")


@_attrs_define
class EndpointResponse:
    """An endpoint (never its secret).

    Attributes:
        account_id (UUID):
        created_at (datetime.datetime):
        endpoint_id (UUID):
        is_primary (bool): The account's primary endpoint (its `crm_webhook_url`).
        status (str): `active` or `disabled` (the CRM answered 410 Gone).
        updated_at (datetime.datetime):
        url (str):
        circuit_open_until (datetime.datetime | None | Unset): While set and in the future, the circuit is open:
            deliveries wait.
        disabled_reason (None | str | Unset):
        event_types (list[str] | None | Unset):
        rate_limit (int | None | Unset): Delivery attempts per second at most; null: no limit.
    """

    account_id: UUID
    created_at: datetime.datetime
    endpoint_id: UUID
    is_primary: bool
    status: str
    updated_at: datetime.datetime
    url: str
    circuit_open_until: datetime.datetime | None | Unset = UNSET
    disabled_reason: None | str | Unset = UNSET
    event_types: list[str] | None | Unset = UNSET
    rate_limit: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        account_id = str(self.account_id)

        created_at = self.created_at.isoformat()

        endpoint_id = str(self.endpoint_id)

        is_primary = self.is_primary

        status = self.status

        updated_at = self.updated_at.isoformat()

        url = self.url

        circuit_open_until: None | str | Unset
        if isinstance(self.circuit_open_until, Unset):
            circuit_open_until = UNSET
        elif isinstance(self.circuit_open_until, datetime.datetime):
            circuit_open_until = self.circuit_open_until.isoformat()
        else:
            circuit_open_until = self.circuit_open_until

        disabled_reason: None | str | Unset
        if isinstance(self.disabled_reason, Unset):
            disabled_reason = UNSET
        else:
            disabled_reason = self.disabled_reason

        event_types: list[str] | None | Unset
        if isinstance(self.event_types, Unset):
            event_types = UNSET
        elif isinstance(self.event_types, list):
            event_types = self.event_types

        else:
            event_types = self.event_types

        rate_limit: int | None | Unset
        if isinstance(self.rate_limit, Unset):
            rate_limit = UNSET
        else:
            rate_limit = self.rate_limit

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "account_id": account_id,
                "created_at": created_at,
                "endpoint_id": endpoint_id,
                "is_primary": is_primary,
                "status": status,
                "updated_at": updated_at,
                "url": url,
            }
        )
        if circuit_open_until is not UNSET:
            field_dict["circuit_open_until"] = circuit_open_until
        if disabled_reason is not UNSET:
            field_dict["disabled_reason"] = disabled_reason
        if event_types is not UNSET:
            field_dict["event_types"] = event_types
        if rate_limit is not UNSET:
            field_dict["rate_limit"] = rate_limit

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        account_id = UUID(d.pop("account_id"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        endpoint_id = UUID(d.pop("endpoint_id"))

        is_primary = d.pop("is_primary")

        status = d.pop("status")

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        url = d.pop("url")

        def _parse_circuit_open_until(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                circuit_open_until_type_0 = datetime.datetime.fromisoformat(data)

                return circuit_open_until_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        circuit_open_until = _parse_circuit_open_until(d.pop("circuit_open_until", UNSET))

        def _parse_disabled_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        disabled_reason = _parse_disabled_reason(d.pop("disabled_reason", UNSET))

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

        def _parse_rate_limit(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        rate_limit = _parse_rate_limit(d.pop("rate_limit", UNSET))

        endpoint_response = cls(
            account_id=account_id,
            created_at=created_at,
            endpoint_id=endpoint_id,
            is_primary=is_primary,
            status=status,
            updated_at=updated_at,
            url=url,
            circuit_open_until=circuit_open_until,
            disabled_reason=disabled_reason,
            event_types=event_types,
            rate_limit=rate_limit,
        )

        endpoint_response.additional_properties = d
        return endpoint_response

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

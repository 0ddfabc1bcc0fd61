from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="MerchantResponse")


@_attrs_define
class MerchantResponse:
    """A merchant (tenant).

    Attributes:
        created_at (datetime.datetime):
        merchant_id (UUID):
        name (str):
        status (str):
    """

    created_at: datetime.datetime
    merchant_id: UUID
    name: str
    status: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        merchant_id = str(self.merchant_id)

        name = self.name

        status = self.status

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "merchant_id": merchant_id,
                "name": name,
                "status": status,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        merchant_id = UUID(d.pop("merchant_id"))

        name = d.pop("name")

        status = d.pop("status")

        merchant_response = cls(
            created_at=created_at,
            merchant_id=merchant_id,
            name=name,
            status=status,
        )

        merchant_response.additional_properties = d
        return merchant_response

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

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="RedriveResponse")


@_attrs_define
class RedriveResponse:
    """Result of a redrive.

    Attributes:
        delivery_ids (list[UUID]):
        requeued (int): Deliveries put back in the queue (same `webhook-id` and payload, fresh 24 h retry horizon).
    """

    delivery_ids: list[UUID]
    requeued: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        delivery_ids = []
        for delivery_ids_item_data in self.delivery_ids:
            delivery_ids_item = str(delivery_ids_item_data)
            delivery_ids.append(delivery_ids_item)

        requeued = self.requeued

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "delivery_ids": delivery_ids,
                "requeued": requeued,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        delivery_ids = []
        _delivery_ids = d.pop("delivery_ids")
        for delivery_ids_item_data in _delivery_ids:
            delivery_ids_item = UUID(delivery_ids_item_data)

            delivery_ids.append(delivery_ids_item)

        requeued = d.pop("requeued")

        redrive_response = cls(
            delivery_ids=delivery_ids,
            requeued=requeued,
        )

        redrive_response.additional_properties = d
        return redrive_response

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

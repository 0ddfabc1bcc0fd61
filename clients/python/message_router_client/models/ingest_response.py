from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="IngestResponse")


@_attrs_define
class IngestResponse:
    """What the router answers Meta.

    Attributes:
        duplicates (int):
        events (int):
        rejected (int): Events (or account rows of an event) the signature does not vouch for: dropped.
        status (str):
        stored (int):
        unrouted (int):
    """

    duplicates: int
    events: int
    rejected: int
    status: str
    stored: int
    unrouted: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        duplicates = self.duplicates

        events = self.events

        rejected = self.rejected

        status = self.status

        stored = self.stored

        unrouted = self.unrouted

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "duplicates": duplicates,
                "events": events,
                "rejected": rejected,
                "status": status,
                "stored": stored,
                "unrouted": unrouted,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        duplicates = d.pop("duplicates")

        events = d.pop("events")

        rejected = d.pop("rejected")

        status = d.pop("status")

        stored = d.pop("stored")

        unrouted = d.pop("unrouted")

        ingest_response = cls(
            duplicates=duplicates,
            events=events,
            rejected=rejected,
            status=status,
            stored=stored,
            unrouted=unrouted,
        )

        ingest_response.additional_properties = d
        return ingest_response

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

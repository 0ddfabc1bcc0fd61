from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ErasureReport")


@_attrs_define
class ErasureReport:
    """What an erasure touched.

    Attributes:
        cancelled_messages (int): Pending outbound messages that were failed (`contact_erased`) instead of being sent.
        inbound_events (int): Inbound events whose content and raw payload were erased.
        outbound_messages (int): Outbound messages whose text, attachment, quick replies and metadata were erased.
        webhook_deliveries (int): CRM webhook bodies whose message content was redacted.
    """

    cancelled_messages: int
    inbound_events: int
    outbound_messages: int
    webhook_deliveries: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        cancelled_messages = self.cancelled_messages

        inbound_events = self.inbound_events

        outbound_messages = self.outbound_messages

        webhook_deliveries = self.webhook_deliveries

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "cancelled_messages": cancelled_messages,
                "inbound_events": inbound_events,
                "outbound_messages": outbound_messages,
                "webhook_deliveries": webhook_deliveries,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        cancelled_messages = d.pop("cancelled_messages")

        inbound_events = d.pop("inbound_events")

        outbound_messages = d.pop("outbound_messages")

        webhook_deliveries = d.pop("webhook_deliveries")

        erasure_report = cls(
            cancelled_messages=cancelled_messages,
            inbound_events=inbound_events,
            outbound_messages=outbound_messages,
            webhook_deliveries=webhook_deliveries,
        )

        erasure_report.additional_properties = d
        return erasure_report

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

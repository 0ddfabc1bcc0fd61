from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.analytics_bucket_failures import AnalyticsBucketFailures


T = TypeVar("T", bound="AnalyticsBucket")


@_attrs_define
class AnalyticsBucket:
    """One bucket of a report, with its quantiles computed (the API's `AnalyticsBucket`).

    Attributes:
        deliveries_failed (int): CRM delivery attempts that failed (non-2xx, timeout, refused).
        deliveries_ok (int): CRM delivery attempts answered 2xx.
        failed (int): Our messages that failed for good.
        failures (AnalyticsBucketFailures): `failed` by error code.
        received (int): Customer messages received.
        replies (int): Our messages that answered customer messages not yet answered.
        sent (int): Our messages Instagram accepted.
        start (datetime.datetime): The bucket's first hour or day (UTC); for the totals, the start of the range.
        window_expiries (int): Conversations whose 24 h messaging window closed.
        delivery_p50_ms (float | None | Unset): Median latency of successful CRM deliveries, in milliseconds.
        delivery_p95_ms (float | None | Unset):
        delivery_success_rate (float | None | Unset): `deliveries_ok / (ok + failed)`; null without attempts.
        reply_p50_secs (float | None | Unset): Median time from a customer's message to our first reply, in seconds
            (bucket-interpolated).
        reply_p95_secs (float | None | Unset):
    """

    deliveries_failed: int
    deliveries_ok: int
    failed: int
    failures: AnalyticsBucketFailures
    received: int
    replies: int
    sent: int
    start: datetime.datetime
    window_expiries: int
    delivery_p50_ms: float | None | Unset = UNSET
    delivery_p95_ms: float | None | Unset = UNSET
    delivery_success_rate: float | None | Unset = UNSET
    reply_p50_secs: float | None | Unset = UNSET
    reply_p95_secs: float | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        deliveries_failed = self.deliveries_failed

        deliveries_ok = self.deliveries_ok

        failed = self.failed

        failures = self.failures.to_dict()

        received = self.received

        replies = self.replies

        sent = self.sent

        start = self.start.isoformat()

        window_expiries = self.window_expiries

        delivery_p50_ms: float | None | Unset
        if isinstance(self.delivery_p50_ms, Unset):
            delivery_p50_ms = UNSET
        else:
            delivery_p50_ms = self.delivery_p50_ms

        delivery_p95_ms: float | None | Unset
        if isinstance(self.delivery_p95_ms, Unset):
            delivery_p95_ms = UNSET
        else:
            delivery_p95_ms = self.delivery_p95_ms

        delivery_success_rate: float | None | Unset
        if isinstance(self.delivery_success_rate, Unset):
            delivery_success_rate = UNSET
        else:
            delivery_success_rate = self.delivery_success_rate

        reply_p50_secs: float | None | Unset
        if isinstance(self.reply_p50_secs, Unset):
            reply_p50_secs = UNSET
        else:
            reply_p50_secs = self.reply_p50_secs

        reply_p95_secs: float | None | Unset
        if isinstance(self.reply_p95_secs, Unset):
            reply_p95_secs = UNSET
        else:
            reply_p95_secs = self.reply_p95_secs

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "deliveries_failed": deliveries_failed,
                "deliveries_ok": deliveries_ok,
                "failed": failed,
                "failures": failures,
                "received": received,
                "replies": replies,
                "sent": sent,
                "start": start,
                "window_expiries": window_expiries,
            }
        )
        if delivery_p50_ms is not UNSET:
            field_dict["delivery_p50_ms"] = delivery_p50_ms
        if delivery_p95_ms is not UNSET:
            field_dict["delivery_p95_ms"] = delivery_p95_ms
        if delivery_success_rate is not UNSET:
            field_dict["delivery_success_rate"] = delivery_success_rate
        if reply_p50_secs is not UNSET:
            field_dict["reply_p50_secs"] = reply_p50_secs
        if reply_p95_secs is not UNSET:
            field_dict["reply_p95_secs"] = reply_p95_secs

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.analytics_bucket_failures import AnalyticsBucketFailures  # noqa: PLC0415

        d = dict(src_dict)
        deliveries_failed = d.pop("deliveries_failed")

        deliveries_ok = d.pop("deliveries_ok")

        failed = d.pop("failed")

        failures = AnalyticsBucketFailures.from_dict(d.pop("failures"))

        received = d.pop("received")

        replies = d.pop("replies")

        sent = d.pop("sent")

        start = datetime.datetime.fromisoformat(d.pop("start"))

        window_expiries = d.pop("window_expiries")

        def _parse_delivery_p50_ms(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        delivery_p50_ms = _parse_delivery_p50_ms(d.pop("delivery_p50_ms", UNSET))

        def _parse_delivery_p95_ms(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        delivery_p95_ms = _parse_delivery_p95_ms(d.pop("delivery_p95_ms", UNSET))

        def _parse_delivery_success_rate(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        delivery_success_rate = _parse_delivery_success_rate(d.pop("delivery_success_rate", UNSET))

        def _parse_reply_p50_secs(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        reply_p50_secs = _parse_reply_p50_secs(d.pop("reply_p50_secs", UNSET))

        def _parse_reply_p95_secs(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        reply_p95_secs = _parse_reply_p95_secs(d.pop("reply_p95_secs", UNSET))

        analytics_bucket = cls(
            deliveries_failed=deliveries_failed,
            deliveries_ok=deliveries_ok,
            failed=failed,
            failures=failures,
            received=received,
            replies=replies,
            sent=sent,
            start=start,
            window_expiries=window_expiries,
            delivery_p50_ms=delivery_p50_ms,
            delivery_p95_ms=delivery_p95_ms,
            delivery_success_rate=delivery_success_rate,
            reply_p50_secs=reply_p50_secs,
            reply_p95_secs=reply_p95_secs,
        )

        analytics_bucket.additional_properties = d
        return analytics_bucket

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

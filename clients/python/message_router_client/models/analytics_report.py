from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.analytics_bucket import AnalyticsBucket


T = TypeVar("T", bound="AnalyticsReport")


@_attrs_define
class AnalyticsReport:
    """A report.

    Attributes:
        buckets (list[AnalyticsBucket]): The buckets with any activity, oldest first (a bucket without activity is left
            out).
        from_ (datetime.datetime):
        granularity (str): `hour` or `day`.
        to (datetime.datetime):
        totals (AnalyticsBucket): One bucket of a report, with its quantiles computed (the API's `AnalyticsBucket`).
        account_id (None | Unset | UUID):
    """

    buckets: list[AnalyticsBucket]
    from_: datetime.datetime
    granularity: str
    to: datetime.datetime
    totals: AnalyticsBucket
    account_id: None | Unset | UUID = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        buckets = []
        for buckets_item_data in self.buckets:
            buckets_item = buckets_item_data.to_dict()
            buckets.append(buckets_item)

        from_ = self.from_.isoformat()

        granularity = self.granularity

        to = self.to.isoformat()

        totals = self.totals.to_dict()

        account_id: None | str | Unset
        if isinstance(self.account_id, Unset):
            account_id = UNSET
        elif isinstance(self.account_id, UUID):
            account_id = str(self.account_id)
        else:
            account_id = self.account_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "buckets": buckets,
                "from": from_,
                "granularity": granularity,
                "to": to,
                "totals": totals,
            }
        )
        if account_id is not UNSET:
            field_dict["account_id"] = account_id

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.analytics_bucket import AnalyticsBucket  # noqa: PLC0415

        d = dict(src_dict)
        buckets = []
        _buckets = d.pop("buckets")
        for buckets_item_data in _buckets:
            buckets_item = AnalyticsBucket.from_dict(buckets_item_data)

            buckets.append(buckets_item)

        from_ = datetime.datetime.fromisoformat(d.pop("from"))

        granularity = d.pop("granularity")

        to = datetime.datetime.fromisoformat(d.pop("to"))

        totals = AnalyticsBucket.from_dict(d.pop("totals"))

        def _parse_account_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                account_id_type_0 = UUID(data)

                return account_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        account_id = _parse_account_id(d.pop("account_id", UNSET))

        analytics_report = cls(
            buckets=buckets,
            from_=from_,
            granularity=granularity,
            to=to,
            totals=totals,
            account_id=account_id,
        )

        analytics_report.additional_properties = d
        return analytics_report

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

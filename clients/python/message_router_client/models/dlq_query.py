from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..models.dlq_query_event_type_type_1 import DlqQueryEventTypeType1
from ..models.dlq_query_event_type_type_2_type_1 import DlqQueryEventTypeType2Type1
from ..models.dlq_query_event_type_type_3_type_1 import DlqQueryEventTypeType3Type1
from ..models.dlq_query_reason_type_1 import DlqQueryReasonType1
from ..models.dlq_query_reason_type_2_type_1 import DlqQueryReasonType2Type1
from ..models.dlq_query_reason_type_3_type_1 import DlqQueryReasonType3Type1
from ..types import UNSET, Unset

T = TypeVar("T", bound="DlqQuery")


@_attrs_define
class DlqQuery:
    """DLQ filters.

    Attributes:
        account_id (None | Unset | UUID):
        event_type (DlqQueryEventTypeType1 | DlqQueryEventTypeType2Type1 | DlqQueryEventTypeType3Type1 | None | Unset):
        merchant_id (None | Unset | UUID):
        reason (DlqQueryReasonType1 | DlqQueryReasonType2Type1 | DlqQueryReasonType3Type1 | None | Unset): `auth_error`,
            `retries_exhausted`, `endpoint_gone`, `endpoint_disabled`, `no_endpoint`, `blocked_url`.
        since (datetime.datetime | None | Unset): Dead-lettered at or after (RFC 3339).
        until (datetime.datetime | None | Unset): Dead-lettered before (RFC 3339).
    """

    account_id: None | Unset | UUID = UNSET
    event_type: DlqQueryEventTypeType1 | DlqQueryEventTypeType2Type1 | DlqQueryEventTypeType3Type1 | None | Unset = (
        UNSET
    )
    merchant_id: None | Unset | UUID = UNSET
    reason: DlqQueryReasonType1 | DlqQueryReasonType2Type1 | DlqQueryReasonType3Type1 | None | Unset = UNSET
    since: datetime.datetime | None | Unset = UNSET
    until: datetime.datetime | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        account_id: None | str | Unset
        if isinstance(self.account_id, Unset):
            account_id = UNSET
        elif isinstance(self.account_id, UUID):
            account_id = str(self.account_id)
        else:
            account_id = self.account_id

        event_type: None | str | Unset
        if isinstance(self.event_type, Unset):
            event_type = UNSET
        elif isinstance(self.event_type, DlqQueryEventTypeType1):
            event_type = self.event_type.value
        elif isinstance(self.event_type, DlqQueryEventTypeType2Type1):
            event_type = self.event_type.value
        elif isinstance(self.event_type, DlqQueryEventTypeType3Type1):
            event_type = self.event_type.value
        else:
            event_type = self.event_type

        merchant_id: None | str | Unset
        if isinstance(self.merchant_id, Unset):
            merchant_id = UNSET
        elif isinstance(self.merchant_id, UUID):
            merchant_id = str(self.merchant_id)
        else:
            merchant_id = self.merchant_id

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        elif isinstance(self.reason, DlqQueryReasonType1):
            reason = self.reason.value
        elif isinstance(self.reason, DlqQueryReasonType2Type1):
            reason = self.reason.value
        elif isinstance(self.reason, DlqQueryReasonType3Type1):
            reason = self.reason.value
        else:
            reason = self.reason

        since: None | str | Unset
        if isinstance(self.since, Unset):
            since = UNSET
        elif isinstance(self.since, datetime.datetime):
            since = self.since.isoformat()
        else:
            since = self.since

        until: None | str | Unset
        if isinstance(self.until, Unset):
            until = UNSET
        elif isinstance(self.until, datetime.datetime):
            until = self.until.isoformat()
        else:
            until = self.until

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if account_id is not UNSET:
            field_dict["account_id"] = account_id
        if event_type is not UNSET:
            field_dict["event_type"] = event_type
        if merchant_id is not UNSET:
            field_dict["merchant_id"] = merchant_id
        if reason is not UNSET:
            field_dict["reason"] = reason
        if since is not UNSET:
            field_dict["since"] = since
        if until is not UNSET:
            field_dict["until"] = until

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

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

        def _parse_event_type(
            data: object,
        ) -> DlqQueryEventTypeType1 | DlqQueryEventTypeType2Type1 | DlqQueryEventTypeType3Type1 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                event_type_type_1 = DlqQueryEventTypeType1(data)

                return event_type_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                event_type_type_2_type_1 = DlqQueryEventTypeType2Type1(data)

                return event_type_type_2_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                event_type_type_3_type_1 = DlqQueryEventTypeType3Type1(data)

                return event_type_type_3_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(
                DlqQueryEventTypeType1 | DlqQueryEventTypeType2Type1 | DlqQueryEventTypeType3Type1 | None | Unset, data
            )

        event_type = _parse_event_type(d.pop("event_type", UNSET))

        def _parse_merchant_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                merchant_id_type_0 = UUID(data)

                return merchant_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        merchant_id = _parse_merchant_id(d.pop("merchant_id", UNSET))

        def _parse_reason(
            data: object,
        ) -> DlqQueryReasonType1 | DlqQueryReasonType2Type1 | DlqQueryReasonType3Type1 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                reason_type_1 = DlqQueryReasonType1(data)

                return reason_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                reason_type_2_type_1 = DlqQueryReasonType2Type1(data)

                return reason_type_2_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                reason_type_3_type_1 = DlqQueryReasonType3Type1(data)

                return reason_type_3_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(DlqQueryReasonType1 | DlqQueryReasonType2Type1 | DlqQueryReasonType3Type1 | None | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))

        def _parse_since(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                since_type_0 = datetime.datetime.fromisoformat(data)

                return since_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        since = _parse_since(d.pop("since", UNSET))

        def _parse_until(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                until_type_0 = datetime.datetime.fromisoformat(data)

                return until_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        until = _parse_until(d.pop("until", UNSET))

        dlq_query = cls(
            account_id=account_id,
            event_type=event_type,
            merchant_id=merchant_id,
            reason=reason,
            since=since,
            until=until,
        )

        return dlq_query

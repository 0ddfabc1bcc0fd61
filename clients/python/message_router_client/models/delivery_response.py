from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.attempt_response import AttemptResponse


T = TypeVar("T", bound="DeliveryResponse")


@_attrs_define
class DeliveryResponse:
    """A CRM webhook delivery.

    Attributes:
        account_id (UUID):
        attempts (int):
        created_at (datetime.datetime):
        delivery_id (UUID): Our id of the delivery (a UUID): the `{delivery_id}` of `GET /api/v1/webhook-
            deliveries/{delivery_id}`.
            The DLQ retry accepts it or `webhook_id`.
        event_id (str):
        event_type (str):
        merchant_id (UUID):
        payload (Any): The exact JSON body sent on every attempt.
        status (str): `pending`, `delivered` or `dlq`.
        webhook_id (str): The `webhook-id` header the CRM received: `msg_` + `delivery_id` without dashes, the same on
            every attempt, retry and redrive (the CRM's deduplication key). The DLQ retry accepts it or
            `delivery_id`. Example: msg_0190a1b2c3d47e8f9a0b1c2d3e4f5a6b.
        attempts_log (list[AttemptResponse] | None | Unset): The attempt log (only on `GET /webhook-deliveries/{id}`).
        dead_at (datetime.datetime | None | Unset):
        delivered_at (datetime.datetime | None | Unset):
        dlq_reason (None | str | Unset): Why it is in the DLQ: `auth_error`, `retries_exhausted`, `endpoint_gone`,
            `endpoint_disabled`,
            `no_endpoint`, `blocked_url`.
        endpoint_id (None | Unset | UUID): The CRM endpoint this delivery goes to (`/accounts/{id}/endpoints`).
        first_attempt_at (datetime.datetime | None | Unset):
        last_attempt_at (datetime.datetime | None | Unset):
        last_error (None | str | Unset):
        next_attempt_at (datetime.datetime | None | Unset):
    """

    account_id: UUID
    attempts: int
    created_at: datetime.datetime
    delivery_id: UUID
    event_id: str
    event_type: str
    merchant_id: UUID
    payload: Any
    status: str
    webhook_id: str
    attempts_log: list[AttemptResponse] | None | Unset = UNSET
    dead_at: datetime.datetime | None | Unset = UNSET
    delivered_at: datetime.datetime | None | Unset = UNSET
    dlq_reason: None | str | Unset = UNSET
    endpoint_id: None | Unset | UUID = UNSET
    first_attempt_at: datetime.datetime | None | Unset = UNSET
    last_attempt_at: datetime.datetime | None | Unset = UNSET
    last_error: None | str | Unset = UNSET
    next_attempt_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        account_id = str(self.account_id)

        attempts = self.attempts

        created_at = self.created_at.isoformat()

        delivery_id = str(self.delivery_id)

        event_id = self.event_id

        event_type = self.event_type

        merchant_id = str(self.merchant_id)

        payload = self.payload

        status = self.status

        webhook_id = self.webhook_id

        attempts_log: list[dict[str, Any]] | None | Unset
        if isinstance(self.attempts_log, Unset):
            attempts_log = UNSET
        elif isinstance(self.attempts_log, list):
            attempts_log = []
            for attempts_log_type_0_item_data in self.attempts_log:
                attempts_log_type_0_item = attempts_log_type_0_item_data.to_dict()
                attempts_log.append(attempts_log_type_0_item)

        else:
            attempts_log = self.attempts_log

        dead_at: None | str | Unset
        if isinstance(self.dead_at, Unset):
            dead_at = UNSET
        elif isinstance(self.dead_at, datetime.datetime):
            dead_at = self.dead_at.isoformat()
        else:
            dead_at = self.dead_at

        delivered_at: None | str | Unset
        if isinstance(self.delivered_at, Unset):
            delivered_at = UNSET
        elif isinstance(self.delivered_at, datetime.datetime):
            delivered_at = self.delivered_at.isoformat()
        else:
            delivered_at = self.delivered_at

        dlq_reason: None | str | Unset
        if isinstance(self.dlq_reason, Unset):
            dlq_reason = UNSET
        else:
            dlq_reason = self.dlq_reason

        endpoint_id: None | str | Unset
        if isinstance(self.endpoint_id, Unset):
            endpoint_id = UNSET
        elif isinstance(self.endpoint_id, UUID):
            endpoint_id = str(self.endpoint_id)
        else:
            endpoint_id = self.endpoint_id

        first_attempt_at: None | str | Unset
        if isinstance(self.first_attempt_at, Unset):
            first_attempt_at = UNSET
        elif isinstance(self.first_attempt_at, datetime.datetime):
            first_attempt_at = self.first_attempt_at.isoformat()
        else:
            first_attempt_at = self.first_attempt_at

        last_attempt_at: None | str | Unset
        if isinstance(self.last_attempt_at, Unset):
            last_attempt_at = UNSET
        elif isinstance(self.last_attempt_at, datetime.datetime):
            last_attempt_at = self.last_attempt_at.isoformat()
        else:
            last_attempt_at = self.last_attempt_at

        last_error: None | str | Unset
        if isinstance(self.last_error, Unset):
            last_error = UNSET
        else:
            last_error = self.last_error

        next_attempt_at: None | str | Unset
        if isinstance(self.next_attempt_at, Unset):
            next_attempt_at = UNSET
        elif isinstance(self.next_attempt_at, datetime.datetime):
            next_attempt_at = self.next_attempt_at.isoformat()
        else:
            next_attempt_at = self.next_attempt_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "account_id": account_id,
                "attempts": attempts,
                "created_at": created_at,
                "delivery_id": delivery_id,
                "event_id": event_id,
                "event_type": event_type,
                "merchant_id": merchant_id,
                "payload": payload,
                "status": status,
                "webhook_id": webhook_id,
            }
        )
        if attempts_log is not UNSET:
            field_dict["attempts_log"] = attempts_log
        if dead_at is not UNSET:
            field_dict["dead_at"] = dead_at
        if delivered_at is not UNSET:
            field_dict["delivered_at"] = delivered_at
        if dlq_reason is not UNSET:
            field_dict["dlq_reason"] = dlq_reason
        if endpoint_id is not UNSET:
            field_dict["endpoint_id"] = endpoint_id
        if first_attempt_at is not UNSET:
            field_dict["first_attempt_at"] = first_attempt_at
        if last_attempt_at is not UNSET:
            field_dict["last_attempt_at"] = last_attempt_at
        if last_error is not UNSET:
            field_dict["last_error"] = last_error
        if next_attempt_at is not UNSET:
            field_dict["next_attempt_at"] = next_attempt_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.attempt_response import AttemptResponse  # noqa: PLC0415

        d = dict(src_dict)
        account_id = UUID(d.pop("account_id"))

        attempts = d.pop("attempts")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        delivery_id = UUID(d.pop("delivery_id"))

        event_id = d.pop("event_id")

        event_type = d.pop("event_type")

        merchant_id = UUID(d.pop("merchant_id"))

        payload = d.pop("payload")

        status = d.pop("status")

        webhook_id = d.pop("webhook_id")

        def _parse_attempts_log(data: object) -> list[AttemptResponse] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                attempts_log_type_0 = []
                _attempts_log_type_0 = data
                for attempts_log_type_0_item_data in _attempts_log_type_0:
                    attempts_log_type_0_item = AttemptResponse.from_dict(attempts_log_type_0_item_data)

                    attempts_log_type_0.append(attempts_log_type_0_item)

                return attempts_log_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[AttemptResponse] | None | Unset, data)

        attempts_log = _parse_attempts_log(d.pop("attempts_log", UNSET))

        def _parse_dead_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                dead_at_type_0 = datetime.datetime.fromisoformat(data)

                return dead_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        dead_at = _parse_dead_at(d.pop("dead_at", UNSET))

        def _parse_delivered_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                delivered_at_type_0 = datetime.datetime.fromisoformat(data)

                return delivered_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        delivered_at = _parse_delivered_at(d.pop("delivered_at", UNSET))

        def _parse_dlq_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        dlq_reason = _parse_dlq_reason(d.pop("dlq_reason", UNSET))

        def _parse_endpoint_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                endpoint_id_type_0 = UUID(data)

                return endpoint_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        endpoint_id = _parse_endpoint_id(d.pop("endpoint_id", UNSET))

        def _parse_first_attempt_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                first_attempt_at_type_0 = datetime.datetime.fromisoformat(data)

                return first_attempt_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        first_attempt_at = _parse_first_attempt_at(d.pop("first_attempt_at", UNSET))

        def _parse_last_attempt_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_attempt_at_type_0 = datetime.datetime.fromisoformat(data)

                return last_attempt_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        last_attempt_at = _parse_last_attempt_at(d.pop("last_attempt_at", UNSET))

        def _parse_last_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        last_error = _parse_last_error(d.pop("last_error", UNSET))

        def _parse_next_attempt_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                next_attempt_at_type_0 = datetime.datetime.fromisoformat(data)

                return next_attempt_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        next_attempt_at = _parse_next_attempt_at(d.pop("next_attempt_at", UNSET))

        delivery_response = cls(
            account_id=account_id,
            attempts=attempts,
            created_at=created_at,
            delivery_id=delivery_id,
            event_id=event_id,
            event_type=event_type,
            merchant_id=merchant_id,
            payload=payload,
            status=status,
            webhook_id=webhook_id,
            attempts_log=attempts_log,
            dead_at=dead_at,
            delivered_at=delivered_at,
            dlq_reason=dlq_reason,
            endpoint_id=endpoint_id,
            first_attempt_at=first_attempt_at,
            last_attempt_at=last_attempt_at,
            last_error=last_error,
            next_attempt_at=next_attempt_at,
        )

        delivery_response.additional_properties = d
        return delivery_response

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

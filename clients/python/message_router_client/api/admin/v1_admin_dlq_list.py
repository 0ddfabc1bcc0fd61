import datetime
from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.delivery_list import DeliveryList
from ...models.error_body import ErrorBody
from ...models.v1_admin_dlq_list_event_type import V1AdminDlqListEventType
from ...models.v1_admin_dlq_list_reason import V1AdminDlqListReason
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    merchant_id: UUID | Unset = UNSET,
    account_id: UUID | Unset = UNSET,
    event_type: V1AdminDlqListEventType | Unset = UNSET,
    reason: V1AdminDlqListReason | Unset = UNSET,
    since: datetime.datetime | Unset = UNSET,
    until: datetime.datetime | Unset = UNSET,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 50,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_merchant_id: str | Unset = UNSET
    if not isinstance(merchant_id, Unset):
        json_merchant_id = str(merchant_id)
    params["merchant_id"] = json_merchant_id

    json_account_id: str | Unset = UNSET
    if not isinstance(account_id, Unset):
        json_account_id = str(account_id)
    params["account_id"] = json_account_id

    json_event_type: str | Unset = UNSET
    if not isinstance(event_type, Unset):
        json_event_type = event_type.value

    params["event_type"] = json_event_type

    json_reason: str | Unset = UNSET
    if not isinstance(reason, Unset):
        json_reason = reason.value

    params["reason"] = json_reason

    json_since: str | Unset = UNSET
    if not isinstance(since, Unset):
        json_since = since.isoformat()
    params["since"] = json_since

    json_until: str | Unset = UNSET
    if not isinstance(until, Unset):
        json_until = until.isoformat()
    params["until"] = json_until

    params["cursor"] = cursor

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/admin/dlq/webhooks",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> DeliveryList | ErrorBody | None:
    if response.status_code == 200:
        response_200 = DeliveryList.from_dict(response.json())

        return response_200

    if 400 <= response.status_code <= 499:
        response_4xx = ErrorBody.from_dict(response.json())

        return response_4xx

    if 500 <= response.status_code <= 599:
        response_5xx = ErrorBody.from_dict(response.json())

        return response_5xx

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[DeliveryList | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    merchant_id: UUID | Unset = UNSET,
    account_id: UUID | Unset = UNSET,
    event_type: V1AdminDlqListEventType | Unset = UNSET,
    reason: V1AdminDlqListReason | Unset = UNSET,
    since: datetime.datetime | Unset = UNSET,
    until: datetime.datetime | Unset = UNSET,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 50,
) -> Response[DeliveryList | ErrorBody]:
    """Dead-lettered deliveries across merchants, newest first.

    Args:
        merchant_id (UUID | Unset):
        account_id (UUID | Unset):
        event_type (V1AdminDlqListEventType | Unset):
        reason (V1AdminDlqListReason | Unset):
        since (datetime.datetime | Unset):
        until (datetime.datetime | Unset):
        cursor (str | Unset):
        limit (int | Unset):  Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DeliveryList | ErrorBody]
    """

    kwargs = _get_kwargs(
        merchant_id=merchant_id,
        account_id=account_id,
        event_type=event_type,
        reason=reason,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    merchant_id: UUID | Unset = UNSET,
    account_id: UUID | Unset = UNSET,
    event_type: V1AdminDlqListEventType | Unset = UNSET,
    reason: V1AdminDlqListReason | Unset = UNSET,
    since: datetime.datetime | Unset = UNSET,
    until: datetime.datetime | Unset = UNSET,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 50,
) -> DeliveryList | ErrorBody | None:
    """Dead-lettered deliveries across merchants, newest first.

    Args:
        merchant_id (UUID | Unset):
        account_id (UUID | Unset):
        event_type (V1AdminDlqListEventType | Unset):
        reason (V1AdminDlqListReason | Unset):
        since (datetime.datetime | Unset):
        until (datetime.datetime | Unset):
        cursor (str | Unset):
        limit (int | Unset):  Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DeliveryList | ErrorBody
    """

    return sync_detailed(
        client=client,
        merchant_id=merchant_id,
        account_id=account_id,
        event_type=event_type,
        reason=reason,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    merchant_id: UUID | Unset = UNSET,
    account_id: UUID | Unset = UNSET,
    event_type: V1AdminDlqListEventType | Unset = UNSET,
    reason: V1AdminDlqListReason | Unset = UNSET,
    since: datetime.datetime | Unset = UNSET,
    until: datetime.datetime | Unset = UNSET,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 50,
) -> Response[DeliveryList | ErrorBody]:
    """Dead-lettered deliveries across merchants, newest first.

    Args:
        merchant_id (UUID | Unset):
        account_id (UUID | Unset):
        event_type (V1AdminDlqListEventType | Unset):
        reason (V1AdminDlqListReason | Unset):
        since (datetime.datetime | Unset):
        until (datetime.datetime | Unset):
        cursor (str | Unset):
        limit (int | Unset):  Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DeliveryList | ErrorBody]
    """

    kwargs = _get_kwargs(
        merchant_id=merchant_id,
        account_id=account_id,
        event_type=event_type,
        reason=reason,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    merchant_id: UUID | Unset = UNSET,
    account_id: UUID | Unset = UNSET,
    event_type: V1AdminDlqListEventType | Unset = UNSET,
    reason: V1AdminDlqListReason | Unset = UNSET,
    since: datetime.datetime | Unset = UNSET,
    until: datetime.datetime | Unset = UNSET,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 50,
) -> DeliveryList | ErrorBody | None:
    """Dead-lettered deliveries across merchants, newest first.

    Args:
        merchant_id (UUID | Unset):
        account_id (UUID | Unset):
        event_type (V1AdminDlqListEventType | Unset):
        reason (V1AdminDlqListReason | Unset):
        since (datetime.datetime | Unset):
        until (datetime.datetime | Unset):
        cursor (str | Unset):
        limit (int | Unset):  Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DeliveryList | ErrorBody
    """

    return (
        await asyncio_detailed(
            client=client,
            merchant_id=merchant_id,
            account_id=account_id,
            event_type=event_type,
            reason=reason,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
        )
    ).parsed

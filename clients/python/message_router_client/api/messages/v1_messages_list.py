from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.message_list import MessageList
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    account_id: UUID,
    recipient_id: str,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 50,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_account_id = str(account_id)
    params["account_id"] = json_account_id

    params["recipient_id"] = recipient_id

    params["cursor"] = cursor

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/messages",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | MessageList | None:
    if response.status_code == 200:
        response_200 = MessageList.from_dict(response.json())

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
) -> Response[ErrorBody | MessageList]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    account_id: UUID,
    recipient_id: str,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 50,
) -> Response[ErrorBody | MessageList]:
    """A conversation's history, both directions, newest first.

    Args:
        account_id (UUID):
        recipient_id (str):
        cursor (str | Unset):
        limit (int | Unset):  Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | MessageList]
    """

    kwargs = _get_kwargs(
        account_id=account_id,
        recipient_id=recipient_id,
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
    account_id: UUID,
    recipient_id: str,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 50,
) -> ErrorBody | MessageList | None:
    """A conversation's history, both directions, newest first.

    Args:
        account_id (UUID):
        recipient_id (str):
        cursor (str | Unset):
        limit (int | Unset):  Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | MessageList
    """

    return sync_detailed(
        client=client,
        account_id=account_id,
        recipient_id=recipient_id,
        cursor=cursor,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    account_id: UUID,
    recipient_id: str,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 50,
) -> Response[ErrorBody | MessageList]:
    """A conversation's history, both directions, newest first.

    Args:
        account_id (UUID):
        recipient_id (str):
        cursor (str | Unset):
        limit (int | Unset):  Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | MessageList]
    """

    kwargs = _get_kwargs(
        account_id=account_id,
        recipient_id=recipient_id,
        cursor=cursor,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    account_id: UUID,
    recipient_id: str,
    cursor: str | Unset = UNSET,
    limit: int | Unset = 50,
) -> ErrorBody | MessageList | None:
    """A conversation's history, both directions, newest first.

    Args:
        account_id (UUID):
        recipient_id (str):
        cursor (str | Unset):
        limit (int | Unset):  Default: 50.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | MessageList
    """

    return (
        await asyncio_detailed(
            client=client,
            account_id=account_id,
            recipient_id=recipient_id,
            cursor=cursor,
            limit=limit,
        )
    ).parsed

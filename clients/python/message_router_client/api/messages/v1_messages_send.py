from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.send_message_request import SendMessageRequest
from ...models.send_message_response import SendMessageResponse
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: SendMessageRequest,
    idempotency_key: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/messages/send",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | SendMessageResponse | None:
    if response.status_code == 202:
        response_202 = SendMessageResponse.from_dict(response.json())

        return response_202

    if response.status_code == 409:
        response_409 = ErrorBody.from_dict(response.json())

        return response_409

    if response.status_code == 422:
        response_422 = ErrorBody.from_dict(response.json())

        return response_422

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
) -> Response[ErrorBody | SendMessageResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: SendMessageRequest,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[ErrorBody | SendMessageResponse]:
    """Queues a message to an Instagram user. Answers 202 once the message is durably stored; the
    send happens in the background (`message.sent` / `message.failed` webhooks follow).

    Args:
        idempotency_key (None | str | Unset):
        body (SendMessageRequest): Body of `POST /messages/send`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | SendMessageResponse]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: SendMessageRequest,
    idempotency_key: None | str | Unset = UNSET,
) -> ErrorBody | SendMessageResponse | None:
    """Queues a message to an Instagram user. Answers 202 once the message is durably stored; the
    send happens in the background (`message.sent` / `message.failed` webhooks follow).

    Args:
        idempotency_key (None | str | Unset):
        body (SendMessageRequest): Body of `POST /messages/send`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | SendMessageResponse
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: SendMessageRequest,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[ErrorBody | SendMessageResponse]:
    """Queues a message to an Instagram user. Answers 202 once the message is durably stored; the
    send happens in the background (`message.sent` / `message.failed` webhooks follow).

    Args:
        idempotency_key (None | str | Unset):
        body (SendMessageRequest): Body of `POST /messages/send`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | SendMessageResponse]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: SendMessageRequest,
    idempotency_key: None | str | Unset = UNSET,
) -> ErrorBody | SendMessageResponse | None:
    """Queues a message to an Instagram user. Answers 202 once the message is durably stored; the
    send happens in the background (`message.sent` / `message.failed` webhooks follow).

    Args:
        idempotency_key (None | str | Unset):
        body (SendMessageRequest): Body of `POST /messages/send`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | SendMessageResponse
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed

from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.api_key_response import ApiKeyResponse
from ...models.create_api_key_request import CreateApiKeyRequest
from ...models.error_body import ErrorBody
from ...types import Response


def _get_kwargs(
    merchant_id: UUID,
    *,
    body: CreateApiKeyRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/admin/merchants/{merchant_id}/api-keys".format(
            merchant_id=quote(str(merchant_id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ApiKeyResponse | ErrorBody | None:
    if response.status_code == 201:
        response_201 = ApiKeyResponse.from_dict(response.json())

        return response_201

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
) -> Response[ApiKeyResponse | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    merchant_id: UUID,
    *,
    client: AuthenticatedClient,
    body: CreateApiKeyRequest,
) -> Response[ApiKeyResponse | ErrorBody]:
    """Creates an API key for a merchant and returns it once.

    Args:
        merchant_id (UUID):
        body (CreateApiKeyRequest): Body of `POST /admin/merchants/{id}/api-keys`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiKeyResponse | ErrorBody]
    """

    kwargs = _get_kwargs(
        merchant_id=merchant_id,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    merchant_id: UUID,
    *,
    client: AuthenticatedClient,
    body: CreateApiKeyRequest,
) -> ApiKeyResponse | ErrorBody | None:
    """Creates an API key for a merchant and returns it once.

    Args:
        merchant_id (UUID):
        body (CreateApiKeyRequest): Body of `POST /admin/merchants/{id}/api-keys`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiKeyResponse | ErrorBody
    """

    return sync_detailed(
        merchant_id=merchant_id,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    merchant_id: UUID,
    *,
    client: AuthenticatedClient,
    body: CreateApiKeyRequest,
) -> Response[ApiKeyResponse | ErrorBody]:
    """Creates an API key for a merchant and returns it once.

    Args:
        merchant_id (UUID):
        body (CreateApiKeyRequest): Body of `POST /admin/merchants/{id}/api-keys`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiKeyResponse | ErrorBody]
    """

    kwargs = _get_kwargs(
        merchant_id=merchant_id,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    merchant_id: UUID,
    *,
    client: AuthenticatedClient,
    body: CreateApiKeyRequest,
) -> ApiKeyResponse | ErrorBody | None:
    """Creates an API key for a merchant and returns it once.

    Args:
        merchant_id (UUID):
        body (CreateApiKeyRequest): Body of `POST /admin/merchants/{id}/api-keys`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiKeyResponse | ErrorBody
    """

    return (
        await asyncio_detailed(
            merchant_id=merchant_id,
            client=client,
            body=body,
        )
    ).parsed

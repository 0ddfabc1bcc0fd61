from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.start_response import StartResponse
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    crm_webhook_url: str | Unset = UNSET,
    redirect_after: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["crm_webhook_url"] = crm_webhook_url

    params["redirect_after"] = redirect_after

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/oauth/instagram/start",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | StartResponse | None:
    if response.status_code == 200:
        response_200 = StartResponse.from_dict(response.json())

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
) -> Response[ErrorBody | StartResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    crm_webhook_url: str | Unset = UNSET,
    redirect_after: str | Unset = UNSET,
) -> Response[ErrorBody | StartResponse]:
    """Starts onboarding: returns Instagram's authorize URL (PKCE S256) and the state.

    Args:
        crm_webhook_url (str | Unset):
        redirect_after (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | StartResponse]
    """

    kwargs = _get_kwargs(
        crm_webhook_url=crm_webhook_url,
        redirect_after=redirect_after,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    crm_webhook_url: str | Unset = UNSET,
    redirect_after: str | Unset = UNSET,
) -> ErrorBody | StartResponse | None:
    """Starts onboarding: returns Instagram's authorize URL (PKCE S256) and the state.

    Args:
        crm_webhook_url (str | Unset):
        redirect_after (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | StartResponse
    """

    return sync_detailed(
        client=client,
        crm_webhook_url=crm_webhook_url,
        redirect_after=redirect_after,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    crm_webhook_url: str | Unset = UNSET,
    redirect_after: str | Unset = UNSET,
) -> Response[ErrorBody | StartResponse]:
    """Starts onboarding: returns Instagram's authorize URL (PKCE S256) and the state.

    Args:
        crm_webhook_url (str | Unset):
        redirect_after (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | StartResponse]
    """

    kwargs = _get_kwargs(
        crm_webhook_url=crm_webhook_url,
        redirect_after=redirect_after,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    crm_webhook_url: str | Unset = UNSET,
    redirect_after: str | Unset = UNSET,
) -> ErrorBody | StartResponse | None:
    """Starts onboarding: returns Instagram's authorize URL (PKCE S256) and the state.

    Args:
        crm_webhook_url (str | Unset):
        redirect_after (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | StartResponse
    """

    return (
        await asyncio_detailed(
            client=client,
            crm_webhook_url=crm_webhook_url,
            redirect_after=redirect_after,
        )
    ).parsed

from http import HTTPStatus
from typing import Any, cast

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.callback_response import CallbackResponse
from ...models.error_body import ErrorBody
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    code: str | Unset = UNSET,
    state: str | Unset = UNSET,
    error: str | Unset = UNSET,
    error_reason: str | Unset = UNSET,
    error_description: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["code"] = code

    params["state"] = state

    params["error"] = error

    params["error_reason"] = error_reason

    params["error_description"] = error_description

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/oauth/instagram/callback",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Any | CallbackResponse | ErrorBody | None:
    if response.status_code == 200:
        response_200 = CallbackResponse.from_dict(response.json())

        return response_200

    if response.status_code == 302:
        response_302 = cast(Any, None)
        return response_302

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 422:
        response_422 = ErrorBody.from_dict(response.json())

        return response_422

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Any | CallbackResponse | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    code: str | Unset = UNSET,
    state: str | Unset = UNSET,
    error: str | Unset = UNSET,
    error_reason: str | Unset = UNSET,
    error_description: str | Unset = UNSET,
) -> Response[Any | CallbackResponse | ErrorBody]:
    """Completes onboarding: code → short-lived token → long-lived token → account (token encrypted),
    webhook subscription. Answers an HTML page, JSON (`Accept: application/json`), or a redirect to
    `redirect_after`.

    Args:
        code (str | Unset):
        state (str | Unset):
        error (str | Unset):
        error_reason (str | Unset):
        error_description (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | CallbackResponse | ErrorBody]
    """

    kwargs = _get_kwargs(
        code=code,
        state=state,
        error=error,
        error_reason=error_reason,
        error_description=error_description,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    code: str | Unset = UNSET,
    state: str | Unset = UNSET,
    error: str | Unset = UNSET,
    error_reason: str | Unset = UNSET,
    error_description: str | Unset = UNSET,
) -> Any | CallbackResponse | ErrorBody | None:
    """Completes onboarding: code → short-lived token → long-lived token → account (token encrypted),
    webhook subscription. Answers an HTML page, JSON (`Accept: application/json`), or a redirect to
    `redirect_after`.

    Args:
        code (str | Unset):
        state (str | Unset):
        error (str | Unset):
        error_reason (str | Unset):
        error_description (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | CallbackResponse | ErrorBody
    """

    return sync_detailed(
        client=client,
        code=code,
        state=state,
        error=error,
        error_reason=error_reason,
        error_description=error_description,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    code: str | Unset = UNSET,
    state: str | Unset = UNSET,
    error: str | Unset = UNSET,
    error_reason: str | Unset = UNSET,
    error_description: str | Unset = UNSET,
) -> Response[Any | CallbackResponse | ErrorBody]:
    """Completes onboarding: code → short-lived token → long-lived token → account (token encrypted),
    webhook subscription. Answers an HTML page, JSON (`Accept: application/json`), or a redirect to
    `redirect_after`.

    Args:
        code (str | Unset):
        state (str | Unset):
        error (str | Unset):
        error_reason (str | Unset):
        error_description (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | CallbackResponse | ErrorBody]
    """

    kwargs = _get_kwargs(
        code=code,
        state=state,
        error=error,
        error_reason=error_reason,
        error_description=error_description,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    code: str | Unset = UNSET,
    state: str | Unset = UNSET,
    error: str | Unset = UNSET,
    error_reason: str | Unset = UNSET,
    error_description: str | Unset = UNSET,
) -> Any | CallbackResponse | ErrorBody | None:
    """Completes onboarding: code → short-lived token → long-lived token → account (token encrypted),
    webhook subscription. Answers an HTML page, JSON (`Accept: application/json`), or a redirect to
    `redirect_after`.

    Args:
        code (str | Unset):
        state (str | Unset):
        error (str | Unset):
        error_reason (str | Unset):
        error_description (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | CallbackResponse | ErrorBody
    """

    return (
        await asyncio_detailed(
            client=client,
            code=code,
            state=state,
            error=error,
            error_reason=error_reason,
            error_description=error_description,
        )
    ).parsed

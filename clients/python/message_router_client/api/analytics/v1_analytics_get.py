import datetime
from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.analytics_report import AnalyticsReport
from ...models.error_body import ErrorBody
from ...models.v1_analytics_get_granularity import V1AnalyticsGetGranularity
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    from_: datetime.datetime,
    to: datetime.datetime | Unset = UNSET,
    granularity: V1AnalyticsGetGranularity | Unset = V1AnalyticsGetGranularity.DAY,
    account_id: UUID | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_from_ = from_.isoformat()
    params["from"] = json_from_

    json_to: str | Unset = UNSET
    if not isinstance(to, Unset):
        json_to = to.isoformat()
    params["to"] = json_to

    json_granularity: str | Unset = UNSET
    if not isinstance(granularity, Unset):
        json_granularity = granularity.value

    params["granularity"] = json_granularity

    json_account_id: str | Unset = UNSET
    if not isinstance(account_id, Unset):
        json_account_id = str(account_id)
    params["account_id"] = json_account_id

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/analytics",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> AnalyticsReport | ErrorBody | None:
    if response.status_code == 200:
        response_200 = AnalyticsReport.from_dict(response.json())

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
) -> Response[AnalyticsReport | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    from_: datetime.datetime,
    to: datetime.datetime | Unset = UNSET,
    granularity: V1AnalyticsGetGranularity | Unset = V1AnalyticsGetGranularity.DAY,
    account_id: UUID | Unset = UNSET,
) -> Response[AnalyticsReport | ErrorBody]:
    """Messages received and sent, failures by code, time to first reply (median, p95), CRM delivery
    success and latency, and messaging windows that closed, per hour or day. Figures come from
    hourly rollups the scheduler refreshes every 5 minutes.

    Args:
        from_ (datetime.datetime):
        to (datetime.datetime | Unset):
        granularity (V1AnalyticsGetGranularity | Unset):  Default: V1AnalyticsGetGranularity.DAY.
        account_id (UUID | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AnalyticsReport | ErrorBody]
    """

    kwargs = _get_kwargs(
        from_=from_,
        to=to,
        granularity=granularity,
        account_id=account_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    from_: datetime.datetime,
    to: datetime.datetime | Unset = UNSET,
    granularity: V1AnalyticsGetGranularity | Unset = V1AnalyticsGetGranularity.DAY,
    account_id: UUID | Unset = UNSET,
) -> AnalyticsReport | ErrorBody | None:
    """Messages received and sent, failures by code, time to first reply (median, p95), CRM delivery
    success and latency, and messaging windows that closed, per hour or day. Figures come from
    hourly rollups the scheduler refreshes every 5 minutes.

    Args:
        from_ (datetime.datetime):
        to (datetime.datetime | Unset):
        granularity (V1AnalyticsGetGranularity | Unset):  Default: V1AnalyticsGetGranularity.DAY.
        account_id (UUID | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AnalyticsReport | ErrorBody
    """

    return sync_detailed(
        client=client,
        from_=from_,
        to=to,
        granularity=granularity,
        account_id=account_id,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    from_: datetime.datetime,
    to: datetime.datetime | Unset = UNSET,
    granularity: V1AnalyticsGetGranularity | Unset = V1AnalyticsGetGranularity.DAY,
    account_id: UUID | Unset = UNSET,
) -> Response[AnalyticsReport | ErrorBody]:
    """Messages received and sent, failures by code, time to first reply (median, p95), CRM delivery
    success and latency, and messaging windows that closed, per hour or day. Figures come from
    hourly rollups the scheduler refreshes every 5 minutes.

    Args:
        from_ (datetime.datetime):
        to (datetime.datetime | Unset):
        granularity (V1AnalyticsGetGranularity | Unset):  Default: V1AnalyticsGetGranularity.DAY.
        account_id (UUID | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AnalyticsReport | ErrorBody]
    """

    kwargs = _get_kwargs(
        from_=from_,
        to=to,
        granularity=granularity,
        account_id=account_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    from_: datetime.datetime,
    to: datetime.datetime | Unset = UNSET,
    granularity: V1AnalyticsGetGranularity | Unset = V1AnalyticsGetGranularity.DAY,
    account_id: UUID | Unset = UNSET,
) -> AnalyticsReport | ErrorBody | None:
    """Messages received and sent, failures by code, time to first reply (median, p95), CRM delivery
    success and latency, and messaging windows that closed, per hour or day. Figures come from
    hourly rollups the scheduler refreshes every 5 minutes.

    Args:
        from_ (datetime.datetime):
        to (datetime.datetime | Unset):
        granularity (V1AnalyticsGetGranularity | Unset):  Default: V1AnalyticsGetGranularity.DAY.
        account_id (UUID | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AnalyticsReport | ErrorBody
    """

    return (
        await asyncio_detailed(
            client=client,
            from_=from_,
            to=to,
            granularity=granularity,
            account_id=account_id,
        )
    ).parsed

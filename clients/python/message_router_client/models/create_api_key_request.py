from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..models.create_api_key_request_environment_type_1 import CreateApiKeyRequestEnvironmentType1
from ..models.create_api_key_request_environment_type_2_type_1 import CreateApiKeyRequestEnvironmentType2Type1
from ..models.create_api_key_request_environment_type_3_type_1 import CreateApiKeyRequestEnvironmentType3Type1
from ..models.create_api_key_request_scopes_item import CreateApiKeyRequestScopesItem
from ..types import UNSET, Unset

T = TypeVar("T", bound="CreateApiKeyRequest")


@_attrs_define
class CreateApiKeyRequest:
    """Body of `POST /admin/merchants/{id}/api-keys`.

    Attributes:
        name (str): Label for humans.
        scopes (list[CreateApiKeyRequestScopesItem]): Any of `messages:send`, `messages:read`, `accounts:read`,
            `accounts:write`.
        account_ids (list[UUID] | None | Unset): Restrict the key to these accounts (omit for all of the merchant's
            accounts).
        environment (CreateApiKeyRequestEnvironmentType1 | CreateApiKeyRequestEnvironmentType2Type1 |
            CreateApiKeyRequestEnvironmentType3Type1 | None | Unset): `live` (default) or `test` (sandbox Graph API only).
        expires_at (datetime.datetime | None | Unset): Expiry (RFC 3339); omit for none.
    """

    name: str
    scopes: list[CreateApiKeyRequestScopesItem]
    account_ids: list[UUID] | None | Unset = UNSET
    environment: (
        CreateApiKeyRequestEnvironmentType1
        | CreateApiKeyRequestEnvironmentType2Type1
        | CreateApiKeyRequestEnvironmentType3Type1
        | None
        | Unset
    ) = UNSET
    expires_at: datetime.datetime | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        scopes = []
        for scopes_item_data in self.scopes:
            scopes_item = scopes_item_data.value
            scopes.append(scopes_item)

        account_ids: list[str] | None | Unset
        if isinstance(self.account_ids, Unset):
            account_ids = UNSET
        elif isinstance(self.account_ids, list):
            account_ids = []
            for account_ids_type_0_item_data in self.account_ids:
                account_ids_type_0_item = str(account_ids_type_0_item_data)
                account_ids.append(account_ids_type_0_item)

        else:
            account_ids = self.account_ids

        environment: None | str | Unset
        if isinstance(self.environment, Unset):
            environment = UNSET
        elif isinstance(self.environment, CreateApiKeyRequestEnvironmentType1):
            environment = self.environment.value
        elif isinstance(self.environment, CreateApiKeyRequestEnvironmentType2Type1):
            environment = self.environment.value
        elif isinstance(self.environment, CreateApiKeyRequestEnvironmentType3Type1):
            environment = self.environment.value
        else:
            environment = self.environment

        expires_at: None | str | Unset
        if isinstance(self.expires_at, Unset):
            expires_at = UNSET
        elif isinstance(self.expires_at, datetime.datetime):
            expires_at = self.expires_at.isoformat()
        else:
            expires_at = self.expires_at

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "scopes": scopes,
            }
        )
        if account_ids is not UNSET:
            field_dict["account_ids"] = account_ids
        if environment is not UNSET:
            field_dict["environment"] = environment
        if expires_at is not UNSET:
            field_dict["expires_at"] = expires_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        scopes = []
        _scopes = d.pop("scopes")
        for scopes_item_data in _scopes:
            scopes_item = CreateApiKeyRequestScopesItem(scopes_item_data)

            scopes.append(scopes_item)

        def _parse_account_ids(data: object) -> list[UUID] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                account_ids_type_0 = []
                _account_ids_type_0 = data
                for account_ids_type_0_item_data in _account_ids_type_0:
                    account_ids_type_0_item = UUID(account_ids_type_0_item_data)

                    account_ids_type_0.append(account_ids_type_0_item)

                return account_ids_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[UUID] | None | Unset, data)

        account_ids = _parse_account_ids(d.pop("account_ids", UNSET))

        def _parse_environment(
            data: object,
        ) -> (
            CreateApiKeyRequestEnvironmentType1
            | CreateApiKeyRequestEnvironmentType2Type1
            | CreateApiKeyRequestEnvironmentType3Type1
            | None
            | Unset
        ):
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                environment_type_1 = CreateApiKeyRequestEnvironmentType1(data)

                return environment_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                environment_type_2_type_1 = CreateApiKeyRequestEnvironmentType2Type1(data)

                return environment_type_2_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                environment_type_3_type_1 = CreateApiKeyRequestEnvironmentType3Type1(data)

                return environment_type_3_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(
                CreateApiKeyRequestEnvironmentType1
                | CreateApiKeyRequestEnvironmentType2Type1
                | CreateApiKeyRequestEnvironmentType3Type1
                | None
                | Unset,
                data,
            )

        environment = _parse_environment(d.pop("environment", UNSET))

        def _parse_expires_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                expires_at_type_0 = datetime.datetime.fromisoformat(data)

                return expires_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        expires_at = _parse_expires_at(d.pop("expires_at", UNSET))

        create_api_key_request = cls(
            name=name,
            scopes=scopes,
            account_ids=account_ids,
            environment=environment,
            expires_at=expires_at,
        )

        return create_api_key_request

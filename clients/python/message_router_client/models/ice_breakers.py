from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.ice_breaker import IceBreaker


T = TypeVar("T", bound="IceBreakers")


@_attrs_define
class IceBreakers:
    """An account's ice breakers (at most 4).

    Attributes:
        ice_breakers (list[IceBreaker]):
    """

    ice_breakers: list[IceBreaker]

    def to_dict(self) -> dict[str, Any]:
        ice_breakers = []
        for ice_breakers_item_data in self.ice_breakers:
            ice_breakers_item = ice_breakers_item_data.to_dict()
            ice_breakers.append(ice_breakers_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "ice_breakers": ice_breakers,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ice_breaker import IceBreaker  # noqa: PLC0415

        d = dict(src_dict)
        ice_breakers = []
        _ice_breakers = d.pop("ice_breakers")
        for ice_breakers_item_data in _ice_breakers:
            ice_breakers_item = IceBreaker.from_dict(ice_breakers_item_data)

            ice_breakers.append(ice_breakers_item)

        ice_breakers = cls(
            ice_breakers=ice_breakers,
        )

        return ice_breakers

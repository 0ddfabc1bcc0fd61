from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.template_variable_type import TemplateVariableType
from ..types import UNSET, Unset

T = TypeVar("T", bound="TemplateVariable")


@_attrs_define
class TemplateVariable:
    """A declared variable.

    Attributes:
        name (str): 1–64 of a-z, 0-9 and `_`, not starting with a digit; used in the body as `{{name}}`.
        type_ (TemplateVariableType): `string` (a JSON string) or `integer` (a JSON integer).
        max_length (int | None | Unset): Strings only: the most characters a value may have (1–1000; default 1000).
    """

    name: str
    type_: TemplateVariableType
    max_length: int | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        type_ = self.type_.value

        max_length: int | None | Unset
        if isinstance(self.max_length, Unset):
            max_length = UNSET
        else:
            max_length = self.max_length

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "type": type_,
            }
        )
        if max_length is not UNSET:
            field_dict["max_length"] = max_length

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        type_ = TemplateVariableType(d.pop("type"))

        def _parse_max_length(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_length = _parse_max_length(d.pop("max_length", UNSET))

        template_variable = cls(
            name=name,
            type_=type_,
            max_length=max_length,
        )

        return template_variable

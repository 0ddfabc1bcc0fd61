from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="IceBreaker")


@_attrs_define
class IceBreaker:
    """One ice breaker: a question the customer can tap to start a conversation; its payload comes
    back as a `postback` message.

        Attributes:
            payload (str): 1–1000 characters.
            question (str): 1–80 characters.
    """

    payload: str
    question: str

    def to_dict(self) -> dict[str, Any]:
        payload = self.payload

        question = self.question

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "payload": payload,
                "question": question,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        payload = d.pop("payload")

        question = d.pop("question")

        ice_breaker = cls(
            payload=payload,
            question=question,
        )

        return ice_breaker

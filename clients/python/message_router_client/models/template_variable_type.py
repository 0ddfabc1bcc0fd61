from enum import StrEnum


class TemplateVariableType(StrEnum):
    INTEGER = "integer"
    STRING = "string"

    def __str__(self) -> str:
        return str(self.value)

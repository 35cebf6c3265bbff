"""``include`` and ``exclude``: which operations become commands, by tag, operationId or path glob."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from connector_proxy_openapi.operations import Operation

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "tags": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Operations with any of these tags.",
        },
        "operations": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Operations by operationId (or by command name).",
        },
        "paths": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Operations whose path matches any of these globs (/repos/*).",
        },
    },
}


def chooser(table: Mapping[str, Any]) -> Callable[[Operation], bool]:
    """Whether an operation is served: it matches ``include`` (or there is none) and not ``exclude``."""
    include, exclude = _rules(table.get("include")), _rules(table.get("exclude"))

    def chosen(operation: Operation) -> bool:
        if include is not None and not _matches(include, operation):
            return False
        return exclude is None or not _matches(exclude, operation)

    return chosen


def _rules(value: Any) -> Mapping[str, list[str]] | None:
    """The table's lists (a wrong shape is the configuration check's to report, which names it)."""
    if not isinstance(value, Mapping):
        return None
    return {
        key: [str(item) for item in value.get(key) or () if isinstance(item, str)]
        for key in SCHEMA["properties"]
    }


def _matches(rules: Mapping[str, list[str]], operation: Operation) -> bool:
    return (
        bool(set(rules["tags"]) & set(operation.tags))
        or bool({operation.operation_id, operation.name} & set(rules["operations"]))
        or any(fnmatchcase(operation.path, glob) for glob in rules["paths"])
    )

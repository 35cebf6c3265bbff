"""connector_proxy.validation.check_schema: jsonschema-rs's fast yes, jsonschema's words for a no."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema.exceptions import SchemaError

from connector_proxy.validation import check_schema, parameters_validator


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "strin"},
        {"properties": {"a": {"pattern": "(("}}},  # jsonschema-rs alone lets this one through
        {"patternProperties": {"[": {}}},
        {"$defs": {"A": {"minimum": "one"}}},
    ],
)
def test_a_wrong_schema_is_refused_in_jsonschemas_words(schema: dict[str, Any]) -> None:
    with pytest.raises(SchemaError):
        check_schema(schema)


def test_a_right_schema_passes() -> None:
    check_schema({"type": "object", "properties": {"a": {"type": "string", "pattern": "^[a-z]+$"}}})


def test_shared_defs_are_checked_once_and_still_refused_when_wrong() -> None:
    shared = {"type": "object", "properties": {"name": {"type": "string"}}}
    checked: set[int] = set()
    for _ in range(3):
        parameters_validator({"properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": {"A": shared}}, checked)
    assert checked == {id(shared)}
    with pytest.raises(SchemaError):
        parameters_validator({"$defs": {"B": {"type": "nothing"}}}, checked)

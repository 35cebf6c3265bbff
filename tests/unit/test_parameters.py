from __future__ import annotations

from typing import Any

import pytest
from sample_connectors import greet, sample

from connector_proxy.calls.catalog import host_type
from connector_proxy.sdk import Connector, Context
from connector_proxy.sdk.parameters import derive_parameters, parse_docstring, schema_for


def test_parameters_come_from_type_hints_defaults_and_docstring() -> None:
    schema = derive_parameters(greet)

    assert schema["required"] == ["name"]
    assert schema["additionalProperties"] is False
    assert list(schema["properties"]) == ["name", "times", "style", "tags"]  # ctx is not a parameter
    assert schema["properties"]["name"] == {"type": "string", "description": "Who to greet."}
    assert schema["properties"]["times"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 5,
        "default": 1,
        "description": "How many times to say it.",
    }
    assert schema["properties"]["style"]["enum"] == ["plain", "loud"]
    assert schema["properties"]["tags"] == {
        "type": "array",
        "items": {"type": "string"},
        "description": "Labels copied into the answer, to show lists round-trip.",
    }


def test_docstring_summary_stops_at_the_arguments() -> None:
    docs = parse_docstring(greet)

    assert docs.summary == "Greet someone.\n\nThe greeting comes from the connector's configuration."
    assert set(docs.arguments) == {"name", "times", "style", "tags"}


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
        (dict[str, Any], {"type": "object"}),
        (int | str, {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        (str | None, {"type": "string"}),
        (Any, {}),
    ],
)
def test_schema_for_common_hints(annotation: Any, expected: dict[str, Any]) -> None:
    assert schema_for(annotation) == expected


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "str"),
        ({"type": "integer"}, "int"),
        ({"type": "boolean"}, "bool"),
        ({"type": "number"}, "any"),
        ({"enum": ["a"]}, "any"),
        ({"type": "object"}, "any"),
    ],
)
def test_host_types_are_the_four_the_editor_knows(schema: dict[str, Any], expected: str) -> None:
    assert host_type(schema) == expected


def test_keyword_arguments_need_an_explicit_schema() -> None:
    connector = Connector("kw")

    def loose(ctx: Context, **anything: Any) -> None:
        return None

    with pytest.raises(TypeError, match="kwargs"):
        connector.command("Loose")(loose)
    connector.command("Loose", parameters={"type": "object"})(loose)
    assert connector.commands["Loose"].parameters == {"type": "object"}


def test_a_command_name_registers_once() -> None:
    with pytest.raises(ValueError, match="sample/Greet is registered twice"):
        sample.command("Greet")(greet)

"""connector_proxy.calls.validation.check_schema: jsonschema-rs's fast yes, jsonschema's words for a no."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing.exceptions import Unresolvable

from connector_proxy.calls.validation import (
    LinearValidator,
    ParametersValidator,
    check_schema,
    closed,
    object_validator,
    parameters_validator,
)


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


@pytest.mark.parametrize("kind", [ParametersValidator, LinearValidator, Draft202012Validator])
def test_no_validator_we_build_fetches_a_ref(kind: Any) -> None:
    with socket.socket() as listening:  # a URL that accepts and never answers: was it ever connected to?
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        url = f"http://127.0.0.1:{listening.getsockname()[1]}/ssrf.json"
        before = socket.getdefaulttimeout()
        socket.setdefaulttimeout(2)  # without the fix, urlopen's wait for an answer ends, the test fails
        try:
            with pytest.raises(Unresolvable):
                list(closed({"properties": {"a": {"$ref": url}}}, kind).iter_errors({"a": 1}))
        finally:
            socket.setdefaulttimeout(before)
        listening.setblocking(False)
        with pytest.raises(BlockingIOError):
            listening.accept()  # no connection was ever made


@pytest.mark.parametrize("ref", ["http://127.0.0.1:9/x.json", "file:///etc/hostname", "#/definitions/x"])
def test_a_remote_parameter_whose_ref_leaves_its_schema_is_refused(ref: str) -> None:
    with pytest.raises(SchemaError, match="does not resolve within its schema"):
        object_validator({"value": {"$ref": ref}}, [])


def test_a_ref_within_the_schema_is_taken() -> None:
    schema = {"$id": "urn:value", "$defs": {"name": {"type": "string"}}, "$ref": "#/$defs/name"}
    _whole, validator = object_validator({"value": schema}, ["value"])
    assert not validator.is_valid({"value": 1}) and validator.is_valid({"value": "a"})

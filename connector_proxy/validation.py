"""Check a call's parameters against the command's schema before it runs.

Messages name every bad field but never repeat a value: parameters arrive
with the host's secrets substituted in plain text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from connector_proxy.errors import INVALID_PARAMETERS
from connector_proxy.sdk.errors import CommandError

try:  # optional: a much faster check of schemas (connector_proxy.validation.check_schema)
    from jsonschema_rs import meta as _meta

    _fast_meta: Any = _meta
except ImportError:  # pragma: no cover - jsonschema judges alone
    _fast_meta = None

Problem = dict[str, str]


def _whole_number(_checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


# JSON Schema counts 2.0 as an integer; a command declaring ``int`` then meets a float it cannot use
# (``range(2.0)``), so an integer parameter is a JSON number written without a fraction
ParametersValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _whole_number),
)


def parameters_validator(schema: Mapping[str, Any], checked: set[int] | None = None) -> Validator:
    """The validator of a command's parameters; raises SchemaError if the schema itself is wrong.

    ``checked`` holds the ids of ``$defs`` entries already checked for commands that share them (a
    connector built from an OpenAPI document shares each component): each is checked once, the
    caller keeping the schemas alive while it holds the ids.
    """
    defs = schema.get("$defs")
    if checked is None or not isinstance(defs, Mapping):
        check_schema(schema)
    else:  # the same as checking the whole: a $defs entry is checked as a schema of its own
        check_schema({key: value for key, value in schema.items() if key != "$defs"})
        for entry in defs.values():
            if id(entry) not in checked:
                check_schema(entry)
                checked.add(id(entry))
    validator: Validator = ParametersValidator(schema)
    return validator


def check_schema(schema: Mapping[str, Any]) -> None:
    """Raise SchemaError unless ``schema`` is a JSON Schema 2020-12 (its regexes compiling).

    jsonschema-rs, when installed (the openapi connector brings it), says yes a hundred times faster
    than jsonschema (a big OpenAPI document has a thousand schemas); it does not check that patterns
    compile, so that is checked here, and any doubt goes to jsonschema, whose error is the one raised.
    """
    if _fast_meta is not None:
        try:
            if _fast_meta.is_valid(schema) and _patterns_compile(schema):
                return
        except (ValueError, TypeError):  # a value it cannot read (a tuple, say): jsonschema judges
            pass
    ParametersValidator.check_schema(schema)


def _patterns_compile(schema: Any) -> bool:
    """Whether every ``pattern`` and ``patternProperties`` key in ``schema`` is a regex we can compile."""
    pending = [schema]
    while pending:
        current = pending.pop()
        if isinstance(current, list):
            pending.extend(current)
            continue
        if not isinstance(current, Mapping):
            continue
        patterns = [current.get("pattern"), *(current.get("patternProperties") or {})]
        for pattern in patterns:
            if isinstance(pattern, str):
                try:
                    re.compile(pattern)
                except re.error:
                    return False
        pending.extend(current.values())
    return True


def validate(validator: Validator, parameters: Mapping[str, Any]) -> None:
    """Raise InvalidParameters naming every bad field, or return quietly."""
    problems = problems_of(validator, parameters)
    if problems:
        listed = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise CommandError(INVALID_PARAMETERS, f"Invalid parameters: {listed}", details=problems)


def problems_of(validator: Validator, document: Any) -> list[Problem]:
    """Every field that fails its schema and how, once each, in field order."""
    return sorted(
        {
            (p["field"], p["problem"]): p for e in validator.iter_errors(document) for p in _explain(e)
        }.values(),
        key=lambda p: p["field"],
    )


def _explain(error: ValidationError) -> Iterable[Problem]:
    where = _field(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, Mapping):
        required: list[str] = list(error.validator_value)  # type: ignore[arg-type]
        for name in required:
            if name not in instance:
                yield {"field": _field([*error.absolute_path, name]), "problem": "is required"}
    elif error.validator == "additionalProperties" and isinstance(instance, Mapping):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        known = set(schema.get("properties", {}))
        for name in instance:
            if name not in known:
                yield {
                    "field": _field([*error.absolute_path, name]),
                    "problem": "is not a parameter of this command",
                }
    elif "propertyNames" in error.relative_schema_path:  # the rule is about a key, not a value
        yield {"field": where, "problem": f"every key {rule_in_words(error)}"}
    else:
        yield {"field": where, "problem": rule_in_words(error)}


def _field(path: Iterable[Any]) -> str:
    parts = [str(part) for part in path]
    return ".".join(parts) if parts else "(body)"


def rule_in_words(error: ValidationError, show_pattern: bool = True) -> str:
    """What the rule asks for, in words: never the value (it may be a secret), never a keyword alone.

    A pattern is named by its schema's ``x-expected`` ("an http:// or https:// URL"); without one it
    is quoted for a call's parameters, and not at all for a configuration (where it reads as noise).
    """
    expected = error.validator_value
    rules: dict[str, Callable[[], str]] = {
        "type": lambda: f"must be of type {_list(expected)}",
        "enum": lambda: f"must be one of {_list(expected)}",
        "const": lambda: f"must be {expected!r}",
        "minimum": lambda: f"must be >= {expected}",
        "maximum": lambda: f"must be <= {expected}",
        "exclusiveMinimum": lambda: f"must be > {expected}",
        "exclusiveMaximum": lambda: f"must be < {expected}",
        "multipleOf": lambda: f"must be a multiple of {expected}",
        "minLength": lambda: f"must be at least {expected} characters long",
        "maxLength": lambda: f"must be at most {expected} characters long",
        "pattern": lambda: _pattern(error, show_pattern),
        "format": lambda: f"must be a valid {expected}",
        "minItems": lambda: f"must have at least {expected} items",
        "maxItems": lambda: f"must have at most {expected} items",
        "uniqueItems": lambda: "must not repeat an item",
        "minProperties": lambda: f"must have at least {expected} keys",
        "maxProperties": lambda: f"must have at most {expected} keys",
        "anyOf": lambda: "fits none of the forms its schema allows",
        "oneOf": lambda: "must fit exactly one of the forms its schema allows",
        "not": lambda: "is a value its schema rules out",
    }
    explain = rules.get(str(error.validator))
    return explain() if explain else f"fails its schema's {error.validator!r} rule"


def _pattern(error: ValidationError, show_pattern: bool) -> str:
    described = error.schema.get("x-expected") if isinstance(error.schema, Mapping) else None
    if described:
        return f"must be {described}"
    if show_pattern:
        return f"must match the pattern {error.validator_value}"
    return "is not in the expected form"


def _list(expected: Any) -> str:
    if isinstance(expected, list):
        return " or ".join(repr(item) if not isinstance(item, str) else item for item in expected)
    return str(expected)

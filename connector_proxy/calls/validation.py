"""Check a call's parameters against the command's schema before it runs.

Messages name every bad field but never repeat a value: parameters arrive
with the host's secrets substituted in plain text. Patterns (``pattern``,
``patternProperties``) are matched by RE2, in time linear in the value, so a
pattern a remote catalog or a connector declares cannot hold a worker
(``^(a+)+$``); one RE2 cannot match (a backreference, a lookaround) is refused
with the schema. No validator built here retrieves a ``$ref`` (``closed``): a schema's
references resolve within it or not at all.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import re2  # type: ignore[import-untyped]
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from connector_proxy.host.error_codes import INVALID_PARAMETERS
from connector_proxy.sdk.errors import CommandError

try:  # optional: a much faster check of schemas (connector_proxy.calls.validation.check_schema)
    from jsonschema_rs import meta as _meta

    _fast_meta: Any = _meta
except ImportError:  # pragma: no cover - jsonschema judges alone
    _fast_meta = None

Problem = dict[str, str]


def _whole_number(_checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


_UNICODE_ESCAPE = re.compile(r"(\\\\)|\\u([0-9a-fA-F]{4})")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is our message, not a line on stderr


@functools.lru_cache(maxsize=4096)
def linear(pattern: str) -> Any:
    """The RE2 form of a schema's pattern (compiled once); re2.error if RE2 cannot match it."""
    return re2.compile(_UNICODE_ESCAPE.sub(_re2_escape, pattern), _RE2_OPTIONS)


def _re2_escape(match: re.Match[str]) -> str:
    """JSON Schema's (ECMA's) ``\\uXXXX`` as RE2 writes it, ``\\x{XXXX}``; an escaped backslash stays."""
    return match[0] if match[1] else "\\x{" + match[2] + "}"


def _pattern_rule(validator: Any, pattern: str, instance: Any, _schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    try:
        matched = linear(pattern).search(instance) is not None
    except re2.error:  # a schema not checked by parameters_validator (a model's literal against it)
        yield ValidationError("its schema's pattern cannot be matched in linear time")
        return
    if not matched:
        yield ValidationError("does not match its pattern")  # never the value: it may be a secret


def _pattern_properties(validator: Any, patterns: Any, instance: Any, _schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if linear(pattern).search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, allowed: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """jsonschema's rule, its patterns matched by RE2 (its own uses ``re``)."""
    if not validator.is_type(instance, "object"):
        return
    known, patterns = schema.get("properties", {}), [linear(p) for p in schema.get("patternProperties", {})]
    extras = [k for k in instance if k not in known and not any(p.search(k) for p in patterns)]
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif allowed is False and extras:
        yield ValidationError(f"Additional properties are not allowed ({len(extras)} given)")


_LINEAR_RULES = {
    "pattern": _pattern_rule,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
}
# Draft 2020-12 with its patterns matched by RE2: for any schema another proxy may have written
LinearValidator = validators.extend(Draft202012Validator, validators=_LINEAR_RULES)  # type: ignore[no-untyped-call]

# JSON Schema counts 2.0 as an integer; a command declaring ``int`` then meets a float it cannot use
# (``range(2.0)``), so an integer parameter is a JSON number written without a fraction
ParametersValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    validators=_LINEAR_RULES,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _whole_number),
)


# a registry that retrieves nothing: given as ``registry=``, it also turns off jsonschema's deprecated
# fallback that fetches any unknown ``$ref`` URL with urlopen (a remote catalog's SSRF)
_NOTHING_RETRIEVED: Registry[Any] = Registry()


def closed(schema: Any, kind: Any = ParametersValidator) -> Validator:
    """A validator of ``kind`` for ``schema`` whose ``$ref`` resolve within the schema, never fetched."""
    validator: Validator = kind(schema, registry=_NOTHING_RETRIEVED)
    return validator


def check_refs(schema: Any) -> None:
    """Raise SchemaError naming the first ``$ref`` that does not resolve within ``schema`` (a URL,
    a file, a pointer to nothing): a call would otherwise fail on it, every time."""
    resource = DRAFT202012.create_resource(schema)
    registry = _NOTHING_RETRIEVED.with_resource(DRAFT202012.id_of(schema) or "", resource)
    for ref in _unresolved(schema, registry.resolver_with_root(resource)):
        shown = ref if len(ref) <= 60 else ref[:57] + "..."
        raise SchemaError(f"its $ref {shown!r} does not resolve within its schema")


def _unresolved(node: Any, resolver: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _unresolved(item, resolver)
        return
    if not isinstance(node, Mapping):
        return
    if isinstance(node.get("$id"), str):  # a new base for the references below it
        resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
    for key in ("$ref", "$dynamicRef"):
        ref = node.get(key)
        if isinstance(ref, str):
            try:
                resolver.lookup(ref)
            except Unresolvable:
                yield ref
    for value in node.values():
        yield from _unresolved(value, resolver)


def parameters_validator(schema: Mapping[str, Any], checked: set[int] | None = None) -> Validator:
    """The validator of a command's parameters; raises SchemaError if the schema itself is wrong,
    or if it holds a pattern RE2 cannot match (checked here, when the catalog is read, not per call).

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
    return closed(schema)


def object_validator(properties: Mapping[str, Any], required: list[str]) -> tuple[dict[str, Any], Validator]:
    """The object schema of named parameters (no others), and its validator: each parameter's schema
    is checked once however many commands declare it (a remote's 6,000 commands share a few), the
    object around them is ours. SchemaError if one holds a ``$ref`` that does not resolve in it."""
    for schema in properties.values():
        check_schema(schema)
    whole = {
        "type": "object",
        "properties": dict(properties),
        "required": required,
        "additionalProperties": False,
    }
    check_refs(whole)  # another proxy's schemas: a $ref out of them is refused with the catalog
    return whole, closed(whole)


_CHECKED: set[bytes] = set()  # digests of the schemas found good: each distinct schema checked once
_CHECKED_AT_MOST = 65536  # past that, checked again rather than remembered (a bound on memory)


def check_schema(schema: Any) -> None:
    """Raise SchemaError unless ``schema`` is a JSON Schema 2020-12 whose patterns RE2 can match.

    A schema seen before (by its canonical text's digest) is not checked again: jsonschema's check
    costs milliseconds and a remote's or an OpenAPI document's commands share most of theirs.
    """
    try:
        digest = hashlib.blake2b(json.dumps(schema, sort_keys=True).encode(), digest_size=16).digest()
    except (TypeError, ValueError):  # a connector's schema holding a Python value: checked as it is
        _check_now(schema)
        return
    if digest not in _CHECKED:
        _check_now(schema)
        if len(_CHECKED) < _CHECKED_AT_MOST:
            _CHECKED.add(digest)


def _check_now(schema: Any) -> None:
    """jsonschema-rs, when installed (the openapi connector brings it), says yes a hundred times faster
    than jsonschema; any doubt goes to jsonschema, whose error is the one raised. Patterns by RE2."""
    if not _fast_valid(schema):
        ParametersValidator.check_schema(schema)
    for pattern in _patterns(schema):
        try:
            linear(pattern)
        except re2.error:
            shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
            raise SchemaError(f"the pattern {shown!r} cannot be matched in linear time (RE2)") from None


def check_draft(schema: Any) -> None:
    """Raise SchemaError unless ``schema`` is a JSON Schema 2020-12 (its patterns are not checked).

    A connector's configuration schema is checked at every start and reload: jsonschema-rs, when
    installed, says yes in microseconds where jsonschema takes 5-15 ms a schema; any doubt goes to
    jsonschema, whose error is the one raised.
    """
    if not _fast_valid(schema):
        Draft202012Validator.check_schema(schema)


def _fast_valid(schema: Any) -> bool:
    if _fast_meta is None:
        return False
    try:
        return bool(_fast_meta.is_valid(schema))
    except (ValueError, TypeError):  # a value it cannot read (a tuple, say): jsonschema judges
        return False


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


def _patterns(schema: Any) -> Iterator[str]:
    """Every ``pattern`` and ``patternProperties`` key of a schema, at any depth."""
    if isinstance(schema, Mapping):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            elif key == "patternProperties" and isinstance(value, Mapping):
                yield from (str(name) for name in value)
            yield from _patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _patterns(item)

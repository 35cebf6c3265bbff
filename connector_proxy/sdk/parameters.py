"""Derive a command's parameter schema from its signature and docstring.

Authors write an ordinary typed function; this module turns it into the JSON
Schema the daemon validates with and the catalog advertises, so the two can
never disagree.
"""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,
    Required,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

JsonSchema = dict[str, Any]

_SCALARS: dict[Any, JsonSchema] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    type(None): {"type": "null"},
}
_ARGS_HEADING = re.compile(r"^\s*(Args|Arguments|Parameters):\s*$")
_ARG_LINE = re.compile(r"^\s*(\w+)\s*(\([^)]*\))?:\s*(.*)$")


@dataclass(frozen=True)
class Docstring:
    """The parts of a Google-style docstring the catalog shows."""

    summary: str
    arguments: Mapping[str, str]


class Schema(dict[str, Any]):
    """JSON Schema keywords for ``Annotated[T, Schema(...)]``, usable anywhere in a hint.

    A plain dict works at the top of a hint, but typing hashes what it nests
    (``list[Annotated[str, {...}]]``, ``Annotated[...] | None``), and a dict
    cannot be hashed; this one hashes by identity.
    """

    def __hash__(self) -> int:  # type: ignore[override]  # dict sets __hash__ to None
        return id(self)


def schema_for(annotation: Any, answer: bool = False) -> JsonSchema:
    """The JSON Schema of one type hint (``Annotated`` dicts are merged in).

    A parameter's ``X | None`` is X's schema (null means "not given", handled before validation);
    in an ``answer`` (a command's output), null is a value it may hold.
    """
    origin = get_origin(annotation)
    if origin in (Required, NotRequired):  # a TypedDict's key: whether it may be absent is the dict's
        return schema_for(get_args(annotation)[0], answer)
    if origin is Annotated:
        base, *extras = get_args(annotation)
        schema = schema_for(base, answer)
        for extra in extras:
            if isinstance(extra, Mapping):
                schema.update(extra)
        return schema
    if annotation in _SCALARS:
        return dict(_SCALARS[annotation])
    if origin is Literal:
        return {"enum": list(get_args(annotation))}
    if is_typeddict(annotation):
        return _typed_dict_schema(annotation, answer)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if answer or a is not type(None)]
        if len(members) == 1:
            return schema_for(members[0], answer)
        return {"anyOf": [schema_for(m, answer) for m in members]}
    return _container_schema(annotation, origin, answer)


def _typed_dict_schema(annotation: Any, answer: bool) -> JsonSchema:
    """An object with the TypedDict's keys; ``NotRequired`` ones may be absent."""
    hints = get_type_hints(annotation, include_extras=True)
    declared = getattr(annotation, "__required_keys__", hints)  # wrong for NotRequired under PEP 563
    required = sorted(
        name
        for name, hint in hints.items()
        if get_origin(hint) is Required or (name in declared and get_origin(hint) is not NotRequired)
    )
    properties = {name: schema_for(hint, answer) for name, hint in hints.items()}
    return {"type": "object", "properties": properties, "required": required}


def _container_schema(annotation: Any, origin: Any, answer: bool) -> JsonSchema:
    container = origin or annotation
    args = get_args(annotation)
    if isinstance(container, type) and issubclass(container, Mapping):
        if len(args) == 2 and args[1] is not Any:
            return {"type": "object", "additionalProperties": schema_for(args[1], answer)}
        return {"type": "object"}
    if isinstance(container, type) and issubclass(container, Sequence) and container is not str:
        return {"type": "array", "items": schema_for(args[0], answer)} if args else {"type": "array"}
    return {}  # Any, object and unknown types accept every JSON value


def parse_docstring(function: Callable[..., Any]) -> Docstring:
    """Split a docstring into its summary and its ``Args:`` descriptions."""
    text = inspect.getdoc(function) or ""
    summary_lines: list[str] = []
    arguments: dict[str, str] = {}
    current: str | None = None
    in_args = False
    for line in text.splitlines():
        if _ARGS_HEADING.match(line):
            in_args = True
            continue
        if not in_args:
            summary_lines.append(line)
            continue
        if line and not line.startswith(" "):
            break  # another section starts
        match = _ARG_LINE.match(line)
        if match and line.startswith("    ") and not line.startswith("        "):
            current = match.group(1)
            arguments[current] = match.group(3).strip()
        elif current and line.strip():
            arguments[current] = f"{arguments[current]} {line.strip()}".strip()
    return Docstring(summary="\n".join(summary_lines).strip(), arguments=arguments)


def derive_output(function: Callable[..., Any]) -> JsonSchema | None:
    """The JSON Schema of what a command answers (its ``command_response.body``), from its return hint.

    None when the hint tells nothing: no hint, ``Any``, or a ``Result`` or ``Accepted`` (their body's
    shape is the function's to say, with ``output=``).
    """
    annotation = get_type_hints(function, include_extras=True).get("return", Any)
    schema = schema_for(annotation, answer=True)
    if not schema or any(not member for member in schema.get("anyOf", ())):
        return None
    return schema


def derive_parameters(function: Callable[..., Any]) -> JsonSchema:
    """The object schema of a command function's parameters after the context.

    A parameter without a default is required; defaults that are not ``None``
    are advertised. Unknown parameters are refused (``additionalProperties``).
    """
    hints = get_type_hints(function, include_extras=True)
    docs = parse_docstring(function)
    properties: dict[str, JsonSchema] = {}
    required: list[str] = []
    for name, parameter in list(inspect.signature(function).parameters.items())[1:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"{function.__name__}: *args and **kwargs cannot be advertised")
        schema = schema_for(hints.get(name, Any))
        if name in docs.arguments:
            schema.setdefault("description", docs.arguments[name])
        if parameter.default is parameter.empty:
            required.append(name)
        elif parameter.default is not None:
            schema.setdefault("default", parameter.default)
        properties[name] = schema
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }

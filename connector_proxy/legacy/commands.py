"""A SpiffWorkflow package's command class as an SDK Command.

The class's constructor parameters are the command's parameters, typed the
way the old proxy typed them (``str``, ``int``, ``bool``, else ``any``) and
given a JSON Schema, so a bad call is a 400 naming the field instead of the
old proxy's 500 ``TypeError``. An ``int`` also takes a numeric string, as the
old proxy passed one on (models in the wild send ``"587"``); the package gets
the number. ``execute(config, task_data)`` runs it; a class with
``execute_async`` is handed a callback URL instead and answers 202, as the old
proxy did: the package calls back itself, and the daemon, which gave it a URL
of its own, relays the result to the host with the callback credentials.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin, get_type_hints

from connector_proxy.legacy import error_codes
from connector_proxy.legacy.answers import logs_of, result_of
from connector_proxy.sdk.connector import Command, CommandFunction
from connector_proxy.sdk.context import Accepted, Context, Result
from connector_proxy.sdk.parameters import JsonSchema, parse_docstring, schema_for

_SKIPPED = ("self", "kwargs")  # the old proxy never advertised these


def command_of(connector: str, name: str, cls: type) -> Command:
    """The Command a host calls as ``<connector>/<name>``."""
    schema, absent_means_none = parameters_of(cls)
    return Command(
        name=name,
        function=_runner(f"{connector}/{name}", cls, absent_means_none, _numeric(schema)),
        parameters=schema,
        description=_own_docstring(cls),
        errors=error_codes.ALL,
        calls_back=callable(getattr(cls, "execute_async", None)),
    )


def parameters_of(cls: type) -> tuple[JsonSchema, frozenset[str]]:
    """The constructor's parameters as an object schema, and those passed as None when not given."""
    signature = inspect.signature(cls.__init__)  # type: ignore[misc]  # a class's own constructor
    hints = _hints(cls)
    described = parse_docstring(cls.__init__).arguments  # type: ignore[misc]
    properties: dict[str, JsonSchema] = {}
    required: list[str] = []
    optional_without_default: list[str] = []
    open_ended = False
    for name, parameter in signature.parameters.items():
        if parameter.kind == parameter.VAR_KEYWORD:
            open_ended = True
        if name in _SKIPPED or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        schema, nullable = _schema(hints.get(name, parameter.annotation))
        if name in described:
            schema["description"] = described[name]
        if parameter.default is parameter.empty:
            (optional_without_default if nullable else required).append(name)
        elif isinstance(parameter.default, str | int | float | bool):
            schema["default"] = parameter.default
        properties[name] = schema
    object_schema = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": open_ended,
    }
    return object_schema, frozenset(optional_without_default)


def _hints(cls: type) -> Mapping[str, Any]:
    try:
        return get_type_hints(cls.__init__)  # type: ignore[misc]
    except Exception:  # names a package imports only for type checkers: fall back to the raw annotations
        return {}


def _schema(annotation: Any) -> tuple[JsonSchema, bool]:
    """The SDK's schema for the hint (so ``str``, ``int``, ``bool`` reach the host as such, else ``any``),
    and whether it admits None (then the parameter is optional, as the old proxy had it)."""
    nullable = get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)
    schema = schema_for(annotation)
    if schema.get("type") == "integer":  # the host's editor still shows int: the first type is the host's
        schema = {**schema, "type": ["integer", "string"], "pattern": NUMERIC_STRING, "x-expected": DIGITS}
    return schema, nullable


NUMERIC_STRING = r"^\s*[+-]?[0-9]+\s*$"
DIGITS = "an integer, or its digits as a string"


def _numeric(schema: JsonSchema) -> frozenset[str]:
    """The parameters that take an integer or its numeric string."""
    properties: dict[str, JsonSchema] = schema["properties"]
    return frozenset(name for name, entry in properties.items() if entry.get("pattern") == NUMERIC_STRING)


def _own_docstring(cls: type) -> str:
    """The class's own docstring (not one inherited from the package's base class)."""
    if not isinstance(cls.__dict__.get("__doc__"), str):
        return ""
    return parse_docstring(cls).summary


def _runner(
    where: str, cls: type, absent_means_none: frozenset[str], numeric: frozenset[str]
) -> CommandFunction:
    def run(ctx: Context, **parameters: Any) -> Result:
        arguments = {name: None for name in absent_means_none} | parameters
        for name in numeric & arguments.keys():
            if isinstance(arguments[name], str):  # validated: a numeric string, as the old proxy took it
                arguments[name] = int(arguments[name])
        instance = cls(**arguments)
        config, task_data = dict(ctx.config), dict(ctx.task_data)
        handing_off = ctx.callback_url is not None and callable(getattr(instance, "execute_async", None))
        if handing_off:
            answer = instance.execute_async(config, task_data, callback_url=ctx.callback_url)
        else:
            answer = instance.execute(config, task_data)
        ctx.log.lines.extend(logs_of(answer))  # the package's own lines, as it wrote them
        result = result_of(answer, where)
        if handing_off:
            return Accepted(result.body, mimetype=result.mimetype)
        return result

    return run

"""A remote proxy's catalog: read over HTTP, checked, and turned into commands we can validate."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeGuard

from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator

from connector_proxy.calls.validation import object_validator
from connector_proxy.config import ProxySettings
from connector_proxy.sdk.paths import UnsafeSegment, segment

# the host editor's types, back to the JSON Schema a call is validated with ("any": anything)
_SCHEMA_OF_HOST_TYPE: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
}


_BLANK = re.compile(r"[ \t\n\r]*")


class UnreadableCatalog(Exception):
    """The remote's answer is not a catalog; the message says why (never its text: it is not ours)."""


class CatalogTooLarge(UnreadableCatalog):
    """The remote's catalog is over ``max_catalog_bytes`` or ``max_commands``: not read."""


def digest_of(commands: bytes, auths: bytes | None) -> str:
    """What an unchanged catalog is recognised by, before anything of it is parsed."""
    return hashlib.sha256(commands + b"\0" + (auths or b"")).hexdigest()


@dataclass(frozen=True)
class RemoteCommand:
    """One command another proxy serves, as we show and validate it."""

    id: str
    connector: str
    proxy: str
    entry: Mapping[str, Any]  # its catalog entry as the remote wrote it, with "proxy" added
    parameters: Mapping[str, Any]  # the object schema calls are validated with here
    validator: Validator
    optional: frozenset[str]  # parameters where null means "not given"


@dataclass(frozen=True)
class RemoteCatalog:
    """What one reading of a remote found: its commands we take, and its sign-ins."""

    commands: Mapping[str, RemoteCommand] = field(default_factory=lambda: MappingProxyType({}))
    auths: tuple[Mapping[str, Any], ...] = ()
    connectors: tuple[str, ...] = ()  # the connectors it offered, taken or not
    skipped: tuple[str, ...] = ()  # entries left out, and why
    digest: str = ""  # of what was read: an unchanged catalog is not rebuilt
    read_at: float = field(default_factory=time.time)


def read_catalog(proxy: ProxySettings, commands: bytes, auths: bytes | None) -> RemoteCatalog:
    """The catalog of ``GET /v1/commands`` (and ``/v1/auths``, when it answered) of ``proxy``."""
    entries = _list_of_objects(commands, "/v1/commands")
    if len(entries) > proxy.max_commands:
        limit = f"proxies.{proxy.name}.max_commands"
        raise CatalogTooLarge(
            f"/v1/commands lists {len(entries)} commands, over {limit} ({proxy.max_commands})"
        )
    taken: dict[str, RemoteCommand] = {}
    skipped = []
    offered = set()
    for entry in entries:
        command_id = entry.get("id")
        if not _safe_id(command_id):
            skipped.append(f"an entry whose id is not '<connector>/<command>': {str(command_id)[:80]!r}")
            continue
        connector = command_id.partition("/")[0]
        offered.add(connector)
        if not proxy.takes(connector):
            continue
        try:
            taken[command_id] = _command(proxy.name, command_id, entry)
        except (SchemaError, ValueError, TypeError) as problem:
            skipped.append(f"{command_id}: its parameters cannot be read ({problem})"[:300])
    listed = _list_of_objects(auths, "/v1/auths") if auths is not None else []
    signins = tuple(
        {**entry, "proxy": proxy.name}
        for entry in listed
        if isinstance(entry.get("id"), str) and proxy.takes(entry["id"].partition("/")[0])
    )
    digest = digest_of(commands, auths)
    return RemoteCatalog(MappingProxyType(taken), signins, tuple(sorted(offered)), tuple(skipped), digest)


def _safe_id(command_id: Any) -> TypeGuard[str]:
    """``<connector>/<command>``, each a segment we can put in a path as it is (no dots, no escapes)."""
    if not isinstance(command_id, str) or command_id.count("/") != 1:
        return False
    try:
        return all(segment(part) == part for part in command_id.split("/"))
    except UnsafeSegment:
        return False


def _list_of_objects(body: bytes, path: str) -> list[dict[str, Any]]:
    try:
        document = list(_items(body.decode("utf-8")))
    except (ValueError, IndexError):
        raise UnreadableCatalog(f"{path} did not answer a JSON list") from None
    if not all(isinstance(item, dict) for item in document):
        raise UnreadableCatalog(f"{path} did not answer a list of objects")
    return document


def _items(text: str) -> Iterator[Any]:
    """A JSON list's items one by one: ``json.loads`` of a 3 MB catalog would hold the interpreter
    (and the worker's event loop with it) for its whole parse, each item only for microseconds."""
    decoder = json.JSONDecoder()
    at = _skip(text, 0)
    if text[at] != "[":
        raise ValueError("not a list")
    at = _skip(text, at + 1)
    if text[at] == "]":
        at = _skip(text, at + 1)
    else:
        while True:
            item, at = decoder.raw_decode(text, at)
            yield item
            at = _skip(text, at)
            separator, at = text[at], _skip(text, at + 1)
            if separator == "]":
                break
            if separator != ",":
                raise ValueError("not a list")
    if at != len(text):
        raise ValueError("more after the list")


def _skip(text: str, at: int) -> int:
    return _BLANK.match(text, at).end()  # type: ignore[union-attr]  # it matches the empty string


def _command(proxy: str, command_id: str, entry: Mapping[str, Any]) -> RemoteCommand:
    parameters = entry.get("parameters", [])
    if not isinstance(parameters, list) or not all(isinstance(p, dict) and "id" in p for p in parameters):
        raise ValueError("parameters must be a list of objects with an id")
    properties = {str(p["id"]): _schema_of(p) for p in parameters}
    required = [str(p["id"]) for p in parameters if p.get("required") is True]
    schema, validator = object_validator(properties, required)
    return RemoteCommand(
        id=command_id,
        connector=command_id.partition("/")[0],
        proxy=proxy,
        entry=MappingProxyType({**entry, "proxy": proxy}),
        parameters=MappingProxyType(schema),
        validator=validator,
        optional=frozenset(set(properties) - set(required)),
    )


def _schema_of(parameter: Mapping[str, Any]) -> dict[str, Any]:
    """A parameter's JSON Schema: ours declare it (``schema``); the reference proxy's, only its type."""
    declared = parameter.get("schema")
    if isinstance(declared, dict):
        return declared
    return dict(_SCHEMA_OF_HOST_TYPE.get(str(parameter.get("type")), {}))

"""``$ref``s of a document, within it and to relative files, resolved with ``referencing`` (the resolver
jsonschema itself uses), and its schemas made JSON Schema 2020-12 (what the daemon validates with).

A schema's local ``$ref``s are not inlined: each component a command needs is converted once per
connector and shared, and each command's schema carries the ones it reaches in ``$defs``, so a big
document (GitHub's reuses ``repository`` hundreds of times) costs one copy. A file ``$ref`` must stay
inside the folder the document may reach (the configuration's); loops and depth are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import yaml
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

from connector_proxy.sdk.factories import CannotBuild
from connector_proxy_openapi.document import MAX_DOCUMENT_BYTES, Document, load_text

JsonSchema = dict[str, Any]
_SAFE_KEY = re.compile(r"[^A-Za-z0-9_.-]")
_NOT_SCHEMAS = frozenset({"example", "examples", "default", "enum", "const", "xml", "externalDocs"})


class Refs:
    """The document's references: ``node`` for parameters, bodies and responses, ``schema`` for schemas."""

    def __init__(self, document: Document) -> None:
        self.base = document.location if "://" in document.location else Path(document.location).as_uri()
        self.root = document.root
        self.version = document.version
        resource = Resource.opaque(document.content)
        self.registry: Registry[Any] = Registry(retrieve=self._retrieve).with_resource(self.base, resource)  # type: ignore[call-arg]
        self.defs: dict[str, JsonSchema] = {}  # key -> the converted component
        self.needs: dict[str, frozenset[str]] = {}  # key -> the keys its schema refers to directly
        self._keys: dict[str, str] = {}  # absolute ref -> key
        self._files: dict[str, Resource[Any]] = {}  # each file read once

    def _retrieve(self, uri: str) -> Resource[Any]:
        if uri not in self._files:
            self._files[uri] = self._read_file(uri)
        return self._files[uri]

    def _read_file(self, uri: str) -> Resource[Any]:
        """A file a ``$ref`` names, inside the root only (a URL's document reaches no file)."""
        parts = urlsplit(uri)
        if parts.scheme != "file" or self.root is None:
            raise CannotBuild(f"$ref to {uri.rsplit('/', 1)[-1]}: only files beside the document are read")
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(self.root):
            raise CannotBuild(f"$ref to {path.name}: outside the folder the document may read")
        try:
            if path.stat().st_size > MAX_DOCUMENT_BYTES:
                raise CannotBuild(f"$ref to {path.name}: over {MAX_DOCUMENT_BYTES} bytes")
            text = path.read_text("utf-8-sig")
            loaded = load_text(text)
        except (OSError, ValueError, yaml.YAMLError) as error:
            raise CannotBuild(f"$ref to {path.name}: cannot be read ({type(error).__name__})") from None
        return Resource.opaque(loaded)

    def lookup(self, ref: str, base: str) -> tuple[Any, str]:
        """What ``ref`` (relative to ``base``) points at, and the base of what it points into."""
        target = urljoin(base, ref)
        try:
            resolved = self.registry.resolver(base_uri=base).lookup(ref)
        except CannotBuild:
            raise
        except Unresolvable as error:
            raise _why(error) or CannotBuild(f"$ref {ref!r} does not resolve") from None
        except Exception:  # a pointer into a list with a word, a bad escape: the document is broken
            raise CannotBuild(f"$ref {ref!r} does not resolve") from None
        return resolved.contents, urldefrag(target).url

    def node(self, value: Any, base: str | None = None) -> tuple[Any, str]:
        """A parameter, body or response object with its ``$ref`` chain followed (a loop is refused)."""
        base = base or self.base
        seen: set[str] = set()
        while isinstance(value, Mapping) and isinstance(value.get("$ref"), str):
            ref = urljoin(base, value["$ref"])
            if ref in seen:
                raise CannotBuild(f"$ref loop at {value['$ref']!r}")
            seen.add(ref)
            value, base = self.lookup(value["$ref"], base)
        return value, base

    def schema(self, value: Any, base: str | None = None) -> tuple[JsonSchema, frozenset[str]]:
        """A schema as JSON Schema 2020-12, its component refs as ``#/$defs/<key>``, and those keys."""
        reached: set[str] = set()
        try:
            converted = self._convert(value, base or self.base, reached)
        except RecursionError:
            raise CannotBuild("a schema nests too deeply") from None
        return converted, frozenset(reached)

    def closure(self, keys: frozenset[str]) -> dict[str, JsonSchema]:
        """The components ``keys`` reach, directly or through each other: a command's ``$defs``."""
        found: dict[str, JsonSchema] = {}
        pending = list(keys)
        while pending:
            key = pending.pop()
            if key not in found:
                found[key] = self.defs[key]
                pending.extend(self.needs[key])
        return dict(sorted(found.items()))

    def _convert(self, value: Any, base: str, reached: set[str]) -> Any:
        if isinstance(value, list):
            return [self._convert(item, base, reached) for item in value]
        if not isinstance(value, Mapping):
            return value
        if isinstance(value.get("$ref"), str):
            key = self._component(value["$ref"], base)
            reached.add(key)
            siblings = {k: v for k, v in value.items() if k != "$ref"} if self.version == "3.1" else {}
            converted_siblings = {
                k: v if k in _NOT_SCHEMAS else self._convert(v, base, reached) for k, v in siblings.items()
            }
            return {**converted_siblings, "$ref": f"#/$defs/{key}"}
        converted = {
            key: item if key in _NOT_SCHEMAS or key.startswith("x-") else self._convert(item, base, reached)
            for key, item in value.items()
        }
        return _as_json_schema(converted, self.version)

    def _component(self, ref: str, base: str) -> str:
        """The ``$defs`` key of what ``ref`` names, converting it the first time it is met."""
        absolute = urljoin(base, ref)
        key = self._keys.get(absolute)
        if key is not None:
            return key
        key = self._new_key(absolute)
        self._keys[absolute] = key
        self.defs[key] = {}  # a placeholder: a schema that refers to itself finds its key
        self.needs[key] = frozenset()
        target, target_base = self.lookup(ref, base)
        reached: set[str] = set()
        self.defs[key] = self._convert(target, target_base, reached)
        self.needs[key] = frozenset(reached)
        self._refuse_ref_loop(key)
        return key

    def _new_key(self, absolute: str) -> str:
        document, _, fragment = absolute.partition("#")
        name = fragment.strip("/").replace("/", ".") or "root"
        if document != self.base:
            name = f"{Path(urlsplit(document).path).stem}.{name}"
        key = _SAFE_KEY.sub("_", unquote(name).replace("~1", "_").replace("~0", "_"))
        taken = set(self._keys.values())
        unique, number = key, 2
        while unique in taken:
            unique, number = f"{key}_{number}", number + 1
        return unique

    def _refuse_ref_loop(self, key: str) -> None:
        """A schema that is nothing but a ``$ref`` leading back to itself would recurse for ever."""
        seen = {key}
        for following in _ref_chain(self.defs, key):
            if following in seen:
                raise CannotBuild(f"$ref loop through {key!r}")
            seen.add(following)


def _why(error: BaseException) -> CannotBuild | None:
    """Our own refusal (a file outside the root, say) under referencing's wrappers, if it is one."""
    current: BaseException | None = error
    for _ in range(8):
        if current is None or isinstance(current, CannotBuild):
            return current
        current = current.__cause__ or current.__context__
    return None


def _ref_chain(defs: Mapping[str, JsonSchema], key: str) -> Iterator[str]:
    current = defs.get(key, {})
    for _ in range(len(defs) + 1):
        ref = current.get("$ref") if isinstance(current, Mapping) and len(current) == 1 else None
        if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
            return
        following = ref.removeprefix("#/$defs/")
        yield following
        current = defs.get(following, {})


def _as_json_schema(schema: dict[str, Any], version: str) -> dict[str, Any]:
    """OpenAPI 3.0's and Swagger 2.0's schema dialect in JSON Schema 2020-12's words."""
    if version == "3.1":
        return schema
    if schema.get("type") == "file":  # Swagger 2.0: an uploaded file
        schema = {**schema, "type": "string", "format": "binary"}
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(schema.get(exclusive), bool):
            flag = schema.pop(exclusive)
            if flag and bound in schema:
                schema[exclusive] = schema.pop(bound)
    if schema.pop("nullable", False) is True:
        kind = schema.get("type")
        if isinstance(kind, str):
            schema["type"] = [kind, "null"]
        if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
    if schema.get("x-nullable") is True and isinstance(schema.get("type"), str):  # a Swagger 2.0 habit
        schema["type"] = [schema["type"], "null"]
    return schema

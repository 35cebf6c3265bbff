"""Secrets given as references (``env:NAME``, ``file:/path``), resolved once.

Operators never have to write a secret into ``plugins.toml``: a field marked
``"secret": true`` in a connector's config schema (and every API key) may
name where the secret lives instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

MASK = "********"


class SecretReferenceError(ValueError):
    """A reference that cannot be resolved; the message never holds the secret."""


def resolve_reference(value: str, environ: Mapping[str, str]) -> str:
    """The secret a reference points at; a plain string is its own value."""
    if value.startswith("env:"):
        name = value[4:]
        if name not in environ:
            raise SecretReferenceError(f"environment variable {name} is not set")
        return environ[name]
    if value.startswith("file:"):
        path = Path(value[5:])
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            raise SecretReferenceError(f"cannot read {path}: {error.strerror}") from None
    return value


def resolve_secrets(schema: Mapping[str, Any], value: Any, environ: Mapping[str, str]) -> Any:
    """A copy of ``value`` whose secret fields are resolved."""
    return _map_secrets(schema, value, lambda text: resolve_reference(text, environ))


def mask_secrets(schema: Mapping[str, Any], value: Any) -> Any:
    """A copy of ``value`` safe to show: every secret field is masked."""
    return _map_secrets(schema, value, lambda _text: MASK)


def _map_secrets(schema: Mapping[str, Any], value: Any, apply: Callable[[str], str]) -> Any:
    if schema.get("secret") and isinstance(value, str):
        return apply(value)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            key: _map_secrets(properties.get(key, extra if isinstance(extra, Mapping) else {}), item, apply)
            for key, item in value.items()
        }
    if isinstance(value, list):
        items = schema.get("items", {})
        item_schema = items if isinstance(items, Mapping) else {}
        return [_map_secrets(item_schema, item, apply) for item in value]
    return value

"""References resolved through their providers, and secret fields masked for showing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from connector_proxy.sdk.masking import remember
from connector_proxy.secrets.providers import SecretReferenceError, provider

MASK = "********"


def resolve_reference(value: str, environ: Mapping[str, str]) -> str:
    """The secret a reference points at, read now; a string naming no installed scheme is its own value."""
    scheme, colon, reference = value.partition(":")
    resolver = provider(scheme) if colon else None
    if resolver is None:
        remember(value)  # a secret written in the file as it is: never logged either
        return value
    try:
        resolved = resolver.resolve(reference, environ)
    except SecretReferenceError:
        raise
    except Exception as error:  # a provider's own failure: named by its kind, its text may hold anything
        raise SecretReferenceError(
            f"{scheme}:{reference} could not be read ({type(error).__name__})"
        ) from None
    remember(resolved)
    return resolved


def resolve_secrets(schema: Mapping[str, Any], value: Any, environ: Mapping[str, str]) -> Any:
    """A copy of ``value`` whose secret fields are resolved."""
    return _map_secrets(schema, value, lambda text: resolve_reference(text, environ))


def rotating(schema: Mapping[str, Any], value: Any) -> bool:
    """Whether a secret field of ``value`` refers to a place whose secret may change while the daemon
    runs: any installed scheme but ``env:`` (a process's environment is fixed)."""
    found: list[str] = []

    def note(text: str) -> str:
        scheme, colon, _ = text.partition(":")
        if colon and scheme != "env" and provider(scheme) is not None:
            found.append(scheme)
        return text

    _map_secrets(schema, value, note)
    return bool(found)


def remember_secrets(schema: Mapping[str, Any], value: Any) -> None:
    """Mask the secret fields' values of a configuration resolved elsewhere (an isolated worker's,
    resolved by the daemon) in this process's log lines and spans."""

    def note(text: str) -> str:
        remember(text)
        return text

    _map_secrets(schema, value, note)


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

"""The secret providers: what one implements, and the ones installed (found once)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Protocol, runtime_checkable

from connector_proxy.secrets.builtin import environment, files
from connector_proxy.secrets.unresolved import SecretReferenceError

__all__ = ["GROUP", "SecretProvider", "SecretReferenceError", "provider", "schemes"]

GROUP = "connector_proxy.secret_providers"
log = logging.getLogger(__name__)


@runtime_checkable
class SecretProvider(Protocol):
    """Resolves the references of one scheme, the name it is registered under in ``GROUP``."""

    def resolve(self, reference: str, environ: Mapping[str, str]) -> str:
        """The secret ``reference`` (the text after ``<scheme>:``) names, read now.

        ``environ`` is the daemon's environment. Raise :class:`SecretReferenceError` naming the
        reference and the cause when it cannot be had; never put the secret in a message.
        """
        ...


@functools.cache
def schemes() -> Mapping[str, EntryPoint]:
    """The installed providers' entry points by scheme, read once (the first of a name wins)."""
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=GROUP):
        found.setdefault(point.name, point)
    return found


@functools.cache
def provider(scheme: str) -> SecretProvider | None:
    """The provider of ``scheme``, loaded when first needed (an AWS SDK is not imported for ``env:``);
    None when none is installed, or when it fails to load (logged: the others keep working)."""
    point = schemes().get(scheme)
    if point is None:  # env: and file: stay references even where the package's metadata is missing
        return _BUILT_IN.get(scheme)
    try:
        loaded = point.load()
    except Exception as error:  # a third party's package
        log.error("secret provider %s (%s) failed to load: %s", scheme, point.value, error)
        return None
    if not isinstance(loaded, SecretProvider):
        log.error("secret provider %s (%s) has no resolve(reference, environ)", scheme, point.value)
        return None
    return loaded


_BUILT_IN: dict[str, SecretProvider] = {"env": environment, "file": files}

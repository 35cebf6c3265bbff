"""The one error of the secrets package, below the providers and the built-in ones that raise it."""

from __future__ import annotations


class SecretReferenceError(ValueError):
    """A reference that cannot be resolved; the message names the reference, never a secret."""

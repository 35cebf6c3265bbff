"""Secrets by reference, and the plug-in point for where they live.

Operators never have to write a secret into ``plugins.toml``: every API key,
callback header, and field a connector's schema marks ``"secret": true`` may
be a reference, ``<scheme>:<reference>``, resolved by the provider of that
scheme. A provider is any object with :meth:`SecretProvider.resolve`,
registered under its scheme in the ``connector_proxy.secret_providers``
entry-point group; ``env:`` and ``file:`` are registered there by this
package exactly as a Vault or cloud provider would be by its own, and the aws
connector's package registers ``aws-sm:`` (AWS Secrets Manager).

providers.py          SecretProvider, and the installed ones (connector_proxy.secret_providers entry points)
builtin.py            env: and file:, registered like any provider
unresolved.py         SecretReferenceError, below the providers that raise it
references.py         a reference resolved by its scheme's provider; secret fields resolved, masked
record_encryption.py  Sealer: stored records' secret parts encrypted at rest (jobs.encryption_keys)
"""

from __future__ import annotations

from connector_proxy.secrets.providers import GROUP, SecretProvider, SecretReferenceError, provider, schemes
from connector_proxy.secrets.references import (
    MASK,
    mask_secrets,
    remember_secrets,
    resolve_reference,
    resolve_secrets,
    rotating,
)

__all__ = [
    "GROUP",
    "MASK",
    "SecretProvider",
    "SecretReferenceError",
    "mask_secrets",
    "provider",
    "remember_secrets",
    "resolve_reference",
    "resolve_secrets",
    "rotating",
    "schemes",
]

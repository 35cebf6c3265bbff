"""The providers this package registers for itself: ``env:NAME`` and ``file:/path``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from connector_proxy.secrets.unresolved import SecretReferenceError


class Environment:
    """``env:NAME``: the daemon's environment variable NAME."""

    def resolve(self, reference: str, environ: Mapping[str, str]) -> str:
        if reference not in environ:
            raise SecretReferenceError(f"environment variable {reference} is not set")
        return environ[reference]


class Files:
    """``file:/path``: the file's text without its trailing newline (a Kubernetes secret, mounted)."""

    def resolve(self, reference: str, environ: Mapping[str, str]) -> str:
        path = Path(reference)
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            raise SecretReferenceError(f"cannot read {path}: {error.strerror}") from None


environment = Environment()
files = Files()

"""``[proxies.<name>]``: other connector proxies whose commands join our catalog."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from connector_proxy.config.values import SEGMENT_NAME, ConfigError, named, plain_url, typed
from connector_proxy.secrets import SecretReferenceError, resolve_reference

PROXY_MODES = ("forward", "redirect")


@dataclass(frozen=True)
class ProxySettings:
    """One ``[proxies.<name>]`` table: another connector proxy whose commands join our catalog."""

    name: str
    url: str  # its base URL, where /v1/commands and /v1/do/... are found
    api_key: str = field(default="", repr=False)  # sent as Spiff-Connector-Proxy-Api-Key; plain or env:/file:
    timeout: float = 44.0  # a forwarded call's deadline (whole answer); under the host's 45 s
    connectors: tuple[str, ...] = ("*",)  # which of its connectors to take; "*": all
    exclude: tuple[str, ...] = ()  # and which not to
    mode: str = "forward"  # or "redirect": the host is sent there with redirect_status
    redirect_status: int = 307
    refresh_seconds: float = 60.0  # its catalog is read again this often, in the background
    max_response_bytes: int = 16 * 1024 * 1024  # a bigger answer is refused, not held
    max_catalog_bytes: int = 8 * 1024 * 1024  # a bigger /v1/commands is refused (state too_large)
    max_commands: int = 10_000  # a catalog listing more is refused (state too_large)

    def takes(self, connector: str) -> bool:
        """Whether this proxy's connector of that name joins our catalog."""
        return ("*" in self.connectors or connector in self.connectors) and connector not in self.exclude


def read_proxies(table: Any, environ: Mapping[str, str]) -> dict[str, ProxySettings]:
    """The ``[proxies]`` tables in the file's order, each checked, its API key resolved."""
    if not isinstance(table, dict):
        raise ConfigError("[proxies] must be a table of proxy tables")
    return {name: _proxy(name, entry, environ) for name, entry in table.items()}


def _proxy(name: str, entry: Any, environ: Mapping[str, str]) -> ProxySettings:
    where = f"proxies.{name}"
    if not SEGMENT_NAME.fullmatch(name) or not isinstance(entry, dict):
        raise ConfigError(f"[{where}] must be a table named with 1 to 64 letters, digits, '_', '.' or '-'")
    hints = get_type_hints(ProxySettings)
    unknown = set(entry) - set(hints) - {"name"}
    if unknown:
        raise ConfigError(f"unknown key(s) in [{where}]: {named(unknown, set(hints) - {'name'})}")
    if "url" not in entry:
        raise ConfigError(f"{where}.url is required: the other proxy's base URL")
    values = {key: typed(f"{where}.{key}", value, hints[key]) for key, value in entry.items()}
    proxy = ProxySettings(name=name, **values)
    if not plain_url(proxy.url):
        raise ConfigError(f"{where}.url must be an http(s) URL without a query (the other proxy's base URL)")
    if proxy.mode not in PROXY_MODES:
        raise ConfigError(f"{where}.mode must be one of {', '.join(PROXY_MODES)}")
    if proxy.redirect_status not in (307, 308):
        raise ConfigError(f"{where}.redirect_status must be 307 or 308 (the method and body are kept)")
    for key in ("timeout", "refresh_seconds"):
        if getattr(proxy, key) <= 0:
            raise ConfigError(f"{where}.{key} must be positive")
    for key in ("max_response_bytes", "max_catalog_bytes"):
        if getattr(proxy, key) < 1024:
            raise ConfigError(f"{where}.{key} must be at least 1024")
    if proxy.max_commands < 1:
        raise ConfigError(f"{where}.max_commands must be at least 1")
    try:
        key = resolve_reference(proxy.api_key, environ)
    except SecretReferenceError as error:
        raise ConfigError(f"{where}.api_key: {error}") from None
    return dataclasses.replace(proxy, url=proxy.url.rstrip("/"), api_key=key)

"""``plugins.toml`` plus ``CONNECTOR_PROXY_<SECTION>_<KEY>`` overrides -> one checked Settings.

Each section's own checks live beside its dataclass; this module reads the file, applies the
environment (lists comma-separated), types every value, and calls the sections' checks in one order.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, get_type_hints

from connector_proxy.config.access import (
    AuthSettings,
    check_auth,
    check_origins,
    check_secrets,
    resolve_api_keys,
    resolve_metrics_key,
    resolve_oauth,
)
from connector_proxy.config.connectors import check_discovery, read_connectors
from connector_proxy.config.events import read_subscriptions, resolve_events
from connector_proxy.config.jobs import check_jobs, resolve_callback_headers, resolve_encryption_keys
from connector_proxy.config.proxies import read_proxies
from connector_proxy.config.server import ServerSettings, check_limits, check_server
from connector_proxy.config.settings import SECTIONS, Settings
from connector_proxy.config.values import ConfigError, did_you_mean, expected, named, type_name, typed

ENV_PREFIX = "CONNECTOR_PROXY_"
CONFIG_ENV = "CONNECTOR_PROXY_CONFIG"
DEFAULT_CONFIG = "plugins.toml"


class EnvironmentConfigError(ConfigError):
    """A value set by an environment override (``variable``), not by the file."""

    def __init__(self, message: str, variable: str) -> None:
        super().__init__(message)
        self.variable = variable


def config_path(explicit: str | None, environ: Mapping[str, str]) -> Path:
    """``--config``, else ``$CONNECTOR_PROXY_CONFIG``, else ``./plugins.toml``."""
    return Path(explicit or environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_settings(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """Read, override and validate the configuration; raise ConfigError if unusable."""
    document = _read_toml(path) if path is not None else {}
    tables = {*SECTIONS, "connectors", "subscriptions", "proxies"}
    unknown = set(document) - tables
    if unknown:
        raise ConfigError(f"unknown section(s): {named(unknown, tables)}")
    try:
        return _settings(document, path, environ)
    except ConfigError as error:
        raise _from_environment(error, environ) from None


def _settings(document: Mapping[str, Any], path: Path | None, environ: Mapping[str, str]) -> Settings:
    sections = {name: _section(name, cls, document.get(name, {}), environ) for name, cls in SECTIONS.items()}
    auth: AuthSettings = sections["auth"]
    sections["auth"] = resolve_api_keys(auth, environ)
    sections["jobs"] = resolve_encryption_keys(resolve_callback_headers(sections["jobs"], environ), environ)
    sections["oauth"] = resolve_oauth(sections["oauth"], environ)
    sections["metrics"] = resolve_metrics_key(sections["metrics"], environ)
    sections["events"] = resolve_events(sections["events"], environ)
    check_origins(sections["cors"])
    check_server(sections["server"])
    check_limits(sections["limits"])
    check_secrets(sections["secrets"])
    check_auth(sections["auth"])
    check_jobs(sections["jobs"])
    check_discovery(sections["discovery"])
    subscriptions = read_subscriptions(document.get("subscriptions", {}))
    if subscriptions and not sections["events"].host_url:
        raise ConfigError("events.host_url must name the host's API root when subscriptions are configured")
    return Settings(
        **sections,
        connectors=MappingProxyType(read_connectors(document.get("connectors", {}))),
        subscriptions=MappingProxyType(subscriptions),
        proxies=MappingProxyType(read_proxies(document.get("proxies", {}), environ)),
        source=path,
        environ=MappingProxyType(dict(environ)),
    )


def _from_environment(error: ConfigError, environ: Mapping[str, str]) -> ConfigError:
    """An error about a key an environment variable set names that variable: the file may not even
    have the key."""
    if isinstance(error, EnvironmentConfigError):
        return error
    for section, key in re.findall(r"\b([a-z]+)\.([a-z_]+)\b", str(error)):
        variable = f"{ENV_PREFIX}{section}_{key}".upper()
        if section in SECTIONS and variable in environ:
            return EnvironmentConfigError(f"{error} (set by the environment variable {variable})", variable)
    return error


def read_worker_class(path: Path | None, environ: Mapping[str, str]) -> str:
    """``server.worker_class`` alone, resolving no secret: ``serve`` patches the standard library
    for it before a secret provider (boto3 for ``aws-sm:``) imports ``ssl``."""
    document = _read_toml(path) if path is not None else {}
    server: ServerSettings = _section("server", ServerSettings, document.get("server", {}), environ)
    return server.worker_class


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """``CONNECTOR_PROXY_*`` variables that set nothing (a misspelt ``..._SERVER_WORKRS``, say)."""
    known = _variables()
    return sorted(name for name in environ if name.startswith(ENV_PREFIX) and name not in known)


def meant_variable(name: str) -> str:
    """`` (did you mean CONNECTOR_PROXY_…?)`` for a variable that sets nothing, or ``""``."""
    return did_you_mean(name, _variables())


def _variables() -> set[str]:
    return {CONFIG_ENV} | {
        f"{ENV_PREFIX}{name}_{field.name}".upper()
        for name, cls in SECTIONS.items()
        for field in dataclasses.fields(cls)
    }


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(
            f"no configuration file at {path.absolute()}; name one with --config PATH or"
            f" {CONFIG_ENV}, or run where a plugins.toml is"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None


def _section(name: str, cls: type[Any], table: Any, environ: Mapping[str, str]) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] must be a table")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [{name}]: {named(unknown, known)}")
    values: dict[str, Any] = {}
    for key in known:
        env_name = f"{ENV_PREFIX}{name}_{key}".upper()
        if env_name in environ:
            try:
                values[key] = _from_env(env_name, environ[env_name], hints[key])
            except ConfigError as error:
                raise EnvironmentConfigError(str(error), env_name) from None
        elif key in table:
            values[key] = typed(f"{name}.{key}", table[key], hints[key])
    return cls(**values)


def _from_env(env_name: str, raw: str, hint: Any) -> Any:
    wanted = expected(hint)
    try:
        if wanted is bool:
            return _parse_bool(raw)
        if wanted is tuple:
            return tuple(item.strip() for item in raw.split(",") if item.strip())
        value = wanted(raw)
        if wanted is float and not math.isfinite(value):
            raise ValueError(raw)  # float() reads nan and inf, which no timeout, lease or age is
        return value
    except ValueError:
        what = "a finite number" if wanted is float else type_name(wanted)
        raise ConfigError(f"{env_name} must be {what}") from None


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)

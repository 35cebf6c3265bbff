"""``[discovery]`` and ``[connectors.<name>]``: which connectors are loaded, their own settings, and
how an isolated one's workers are run and bounded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any

from connector_proxy.config.values import SEGMENT_NAME, ConfigError, named, typed
from connector_proxy.sdk.factories import FACTORY_GROUP


@dataclass(frozen=True)
class DiscoverySettings:
    """Which installed connectors are loaded."""

    enable_unlisted: bool = True
    spiffworkflow_packages: bool = True  # also load SpiffWorkflow's connector_<name> packages
    prefer: str = "entry_point"  # when both kinds offer one name: "entry_point" or "spiffworkflow"
    import_timeout: float = 30.0  # seconds a connector's import may take; one that hangs is left out


def check_discovery(discovery: DiscoverySettings) -> None:
    if discovery.prefer not in ("entry_point", "spiffworkflow"):
        raise ConfigError("discovery.prefer must be entry_point or spiffworkflow")
    if discovery.import_timeout <= 0:
        raise ConfigError("discovery.import_timeout must be positive")


@dataclass(frozen=True)
class WorkerLimits:
    """What one isolated worker process may use; at a limit the call in flight answers
    WorkerLimitExceeded and the worker is replaced, the others keep serving."""

    memory_bytes: int | None = None  # what it holds (its own memory cgroup) or its address space (RLIMIT_AS)
    cpu_seconds: int | None = None  # CPU time of one call (RLIMIT_CPU, moved on before each call)
    max_calls: int | None = None  # calls a worker answers before it is replaced, between calls
    max_age_seconds: int | None = None  # a worker older than this is replaced, between calls
    min_workers: int | None = None  # started at once and kept; None: all of connectors.<name>.workers
    idle_seconds: int | None = None  # a worker idle this long is stopped, down to min_workers
    cgroup: bool = True  # memory_bytes in a cgroup of its own where the daemon has one to give


NO_LIMITS = WorkerLimits()
LIMIT_KEYS = ("memory_bytes", "cpu_seconds", "max_calls", "max_age_seconds", "min_workers", "idle_seconds")
LIMIT_MINIMUMS = {
    "memory_bytes": 64 * 1024 * 1024,
    "cpu_seconds": 1,
    "max_calls": 1,
    "max_age_seconds": 1,
    "min_workers": 0,
    "idle_seconds": 1,
}


@dataclass(frozen=True)
class ConnectorSettings:
    """One ``[connectors.<name>]`` table: the daemon's keys and the connector's own."""

    enabled: bool = True
    config: Mapping[str, Any] = field(default_factory=dict)
    python: str | None = None  # run isolated, under this interpreter (another virtual environment's)
    program: tuple[str, ...] = ()  # run isolated, as this program speaking the isolation protocol
    workers: int = 2  # isolated worker processes per daemon worker
    limits: WorkerLimits = NO_LIMITS  # on each isolated worker process
    # typeahead categories opened to keyless requests (a SpiffWorkflow backend sends no key there), by
    # the one-segment names hosts ask for ({"buckets": "s3-buckets"}); the others need the API key
    typeahead: Mapping[str, str] = field(default_factory=dict)
    # built by an installed factory (connector_proxy.factories) from a source: ("openapi", "spec.yaml")
    built_from: tuple[str, str] | None = None

    @property
    def isolated(self) -> bool:
        return self.python is not None or bool(self.program)


def read_connectors(table: Any) -> dict[str, ConnectorSettings]:
    """The ``[connectors]`` tables, each checked."""
    if not isinstance(table, dict):
        raise ConfigError("[connectors] must be a table of connector tables")
    connectors: dict[str, ConnectorSettings] = {}
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"[connectors.{name}] must be a table")
        known = {"enabled", "config", "python", "program", "workers", "typeahead", "cgroup", *LIMIT_KEYS}
        factories = set(entry) & factory_names()
        unknown = set(entry) - known - factories
        if unknown:
            raise ConfigError(
                f"unknown key(s) in [connectors.{name}]: {named(unknown, known)}"
                f" (the connector's own settings go in [connectors.{name}.config])"
            )
        enabled = typed(f"connectors.{name}.enabled", entry.get("enabled", True), bool)
        config = entry.get("config", {})
        if not isinstance(config, dict):
            raise ConfigError(f"[connectors.{name}.config] must be a table")
        typeahead = _typeahead_names(name, entry.get("typeahead", {}))
        connectors[name] = ConnectorSettings(
            enabled=enabled,
            config=config,
            typeahead=typeahead,
            built_from=_built_from(name, entry, factories),
            **_isolation(name, entry),
        )
    return connectors


def factory_names() -> frozenset[str]:
    """The keys that name a source to build a connector from: the installed factories' names."""
    return frozenset(point.name for point in entry_points(group=FACTORY_GROUP))


def _built_from(name: str, entry: Mapping[str, Any], factories: set[str]) -> tuple[str, str] | None:
    if not factories:
        return None
    if len(factories) > 1:
        raise ConfigError(f"[connectors.{name}]: give one of {', '.join(sorted(factories))}, not several")
    (factory,) = factories
    source = entry[factory]
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(f"connectors.{name}.{factory} must be a string (a file or an http(s) URL)")
    if "program" in entry:
        raise ConfigError(
            f"[connectors.{name}]: a connector built from {factory} runs isolated by python, not program"
        )
    return factory, source


def _typeahead_names(name: str, table: Any) -> Mapping[str, str]:
    where = f"[connectors.{name}.typeahead]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table: the connector's category = the name hosts ask for")
    for category, public in table.items():
        if not isinstance(public, str) or not SEGMENT_NAME.fullmatch(public):
            raise ConfigError(
                f"{where} {category}: 1 to 64 letters, digits, '_', '.' or '-' (one path segment)"
            )
    return MappingProxyType(dict(table))


def _isolation(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    where = f"connectors.{name}"
    python = entry.get("python")
    program = entry.get("program", [])
    if python is not None and not isinstance(python, str):
        raise ConfigError(f"{where}.python must be a string (an interpreter's path)")
    if not isinstance(program, list) or not all(isinstance(part, str) for part in program):
        raise ConfigError(f"{where}.program must be a list of strings (a program and its arguments)")
    if python is not None and program:
        raise ConfigError(f"{where}: give python or program, not both")
    workers = typed(f"{where}.workers", entry.get("workers", 2), int)
    if workers < 1:
        raise ConfigError(f"{where}.workers must be at least 1")
    limits = {key: typed(f"{where}.{key}", entry[key], int) for key in LIMIT_KEYS if key in entry}
    for key, value in limits.items():
        if value < LIMIT_MINIMUMS[key]:
            raise ConfigError(f"{where}.{key} must be at least {LIMIT_MINIMUMS[key]}")
    if limits.get("min_workers", 0) > workers:
        raise ConfigError(f"{where}.min_workers must be at most {where}.workers ({workers})")
    if limits and python is None and not program:
        raise ConfigError(
            f"{where}: {', '.join(sorted(limits))} apply to isolated workers: give python or program"
        )
    cgroup = typed(f"{where}.cgroup", entry.get("cgroup", True), bool)
    limited = WorkerLimits(**limits, cgroup=cgroup)
    return {"python": python, "program": tuple(program), "workers": workers, "limits": limited}

"""Find connectors through entry points, once, and build the registry.

Only the ``connector_proxy.connectors`` group is read: the host never guesses
by scanning modules. A connector that fails to import, is not a Connector, or
whose configuration is invalid is reported and left out; the others serve.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match

from connector_proxy import catalog
from connector_proxy.config import ConnectorSettings, Settings
from connector_proxy.envelope import dumps
from connector_proxy.isolation.pool import WorkerPool
from connector_proxy.isolation.remote import isolated_connector, worker_command
from connector_proxy.registry import READY, BoundCommand, ConnectorStatus, Registry
from connector_proxy.sdk.connector import Connector
from connector_proxy.secret_refs import SecretReferenceError, mask_secrets, resolve_secrets

GROUP = "connector_proxy.connectors"
log = logging.getLogger(__name__)


class ConnectorRejected(Exception):
    """Why one connector was left out; ``state`` is what the status endpoint shows."""

    def __init__(self, state: str, detail: str) -> None:
        super().__init__(detail)
        self.state = state
        self.detail = detail


def build_registry(settings: Settings, found: Iterable[EntryPoint] | None = None) -> Registry:
    """Load every installed connector the settings enable into a Registry."""
    points = list(entry_points(group=GROUP) if found is None else found)
    statuses: dict[str, ConnectorStatus] = {}
    commands: dict[str, BoundCommand] = {}
    for name, connector_settings in settings.connectors.items():
        if connector_settings.isolated:  # configured isolation wins over a package installed here
            statuses[name], bound = _load_isolated(name, connector_settings, settings)
            commands.update(bound)
    for point in sorted(points, key=lambda p: p.name):
        configured = settings.connector(point.name)
        if configured is not None and configured.isolated:
            continue
        if point.name in statuses:
            statuses[f"{point.name}#{point.value}"] = _status_of(
                point, "duplicate", f"another package already provides {point.name!r}"
            )
            continue
        status, bound = _load(point, settings)
        statuses[point.name] = status
        for command_id, command in bound.items():
            commands[command_id] = command
    for name in settings.connectors:
        if name not in statuses:
            statuses[name] = ConnectorStatus(name, "not_installed", "configured but no package provides it")
    for status in statuses.values():
        _report(status)
    return _freeze(commands, tuple(statuses.values()))


def _load(point: EntryPoint, settings: Settings) -> tuple[ConnectorStatus, dict[str, BoundCommand]]:
    connector_settings = settings.connector(point.name)
    if connector_settings is None and not settings.discovery.enable_unlisted:
        return _status_of(point, "disabled", "not listed in the configuration"), {}
    connector_settings = connector_settings or ConnectorSettings()
    if not connector_settings.enabled:
        return _status_of(point, "disabled", "enabled = false"), {}
    try:
        connector = _import(point)
        config = _configure(connector, connector_settings, settings.environ)
        resources = _setup(connector, config)
        bound = _bind(connector, config, resources)
    except ConnectorRejected as rejected:
        return _status_of(point, rejected.state, rejected.detail), {}
    status = _status_of(point, READY, None, connector, connector_settings.config)
    return status, bound


def _load_isolated(
    name: str, connector_settings: ConnectorSettings, settings: Settings
) -> tuple[ConnectorStatus, dict[str, BoundCommand]]:
    command = worker_command(name, connector_settings.python, connector_settings.program)
    if not connector_settings.enabled:
        return ConnectorStatus(name, "disabled", "enabled = false", runs=command), {}
    cwd = settings.source.parent if settings.source else None
    try:
        connector = isolated_connector(name, command, connector_settings.workers, cwd)
    except Exception as error:  # the program is missing, exits, or does not speak the protocol
        detail = f"{type(error).__name__}: {error}"
        return ConnectorStatus(name, "worker_error", detail, runs=command), {}
    try:
        config = _configure(connector, connector_settings, settings.environ)
        resources = _setup(connector, config)
        bound = _bind(connector, config, resources)
    except ConnectorRejected as rejected:
        return ConnectorStatus(name, rejected.state, rejected.detail, runs=command), {}
    schema = connector.config_schema
    status = ConnectorStatus(
        name,
        READY,
        version=connector.version,
        description=connector.description,
        config_schema=schema,
        masked_config=mask_secrets(schema, dict(connector_settings.config)),
        runs=command,
    )
    return status, bound


def _import(point: EntryPoint) -> Connector:
    try:
        loaded = point.load()
    except Exception as error:  # any failure of third-party code must not stop the daemon
        log.exception("connector %s failed to import", point.name)
        raise ConnectorRejected("import_error", f"{type(error).__name__}: {error}") from None
    if not isinstance(loaded, Connector):
        raise ConnectorRejected("invalid", f"{point.value} is not a connector_proxy.sdk.Connector")
    if loaded.name != point.name:
        raise ConnectorRejected("invalid", f"entry point {point.name!r} names connector {loaded.name!r}")
    return loaded


def _configure(
    connector: Connector, connector_settings: ConnectorSettings, environ: Mapping[str, str]
) -> Mapping[str, Any]:
    try:
        Draft202012Validator.check_schema(connector.config_schema)
        config = resolve_secrets(connector.config_schema, dict(connector_settings.config), environ)
        error = best_match(Draft202012Validator(connector.config_schema).iter_errors(config))
    except SchemaError as schema_error:
        raise ConnectorRejected("invalid", f"config schema: {schema_error.message}") from None
    except SecretReferenceError as reference_error:
        raise ConnectorRejected("config_error", str(reference_error)) from None
    if error is not None:
        raise ConnectorRejected("config_error", _config_problem(error))
    return MappingProxyType({**_defaults(connector.config_schema), **config})


def _defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema's top-level defaults: filled in here once, so no setup or command repeats them."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    return {name: entry["default"] for name, entry in properties.items() if "default" in entry}


def _config_problem(error: ValidationError) -> str:
    where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    if error.validator in ("required", "additionalProperties"):
        return f"{where}: {error.message}"
    return f"{where}: fails its '{error.validator}' rule"  # the value may be a secret


def _setup(connector: Connector, config: Mapping[str, Any]) -> Any:
    if connector.setup is None:
        return None
    try:
        return connector.setup(config)
    except Exception as error:  # a connector's setup is third-party code
        log.exception("connector %s failed to set up", connector.name)
        raise ConnectorRejected("setup_error", f"{type(error).__name__}: {error}") from None


def _bind(connector: Connector, config: Mapping[str, Any], resources: Any) -> dict[str, BoundCommand]:
    logger = logging.getLogger(f"connector_proxy.connectors.{connector.name}")
    bound: dict[str, BoundCommand] = {}
    for command in connector.commands.values():
        try:
            validator = Draft202012Validator(command.parameters)
            Draft202012Validator.check_schema(command.parameters)
        except SchemaError as error:
            raise ConnectorRejected("invalid", f"{command.name}: {error.message}") from None
        canonical = f"{connector.name}/{command.name}"
        properties: dict[str, Any] = command.parameters.get("properties", {})
        optional = frozenset(set(properties) - set(command.parameters.get("required", ())))
        defaults = MappingProxyType(_defaults(command.parameters))
        entry = BoundCommand(
            canonical, connector.name, command, validator, config, resources, logger, optional, defaults
        )
        for name in (command.name, *command.aliases):
            bound[f"{connector.name}/{name}"] = entry
    return bound


def _status_of(
    point: EntryPoint,
    state: str,
    detail: str | None,
    connector: Connector | None = None,
    config: Mapping[str, Any] | None = None,
) -> ConnectorStatus:
    distribution = point.dist.name if point.dist is not None else None
    dist_version = point.dist.version if point.dist is not None else None
    schema = connector.config_schema if connector else {}
    return ConnectorStatus(
        name=point.name,
        state=state,
        detail=detail,
        version=(connector.version if connector and connector.version else dist_version),
        description=connector.description if connector else "",
        distribution=distribution,
        entry_point=point.value,
        config_schema=schema,
        masked_config=mask_secrets(schema, dict(config or {})),
    )


def _report(status: ConnectorStatus) -> None:
    if status.state == READY:
        log.info("connector %s %s ready", status.name, status.version or "")
    elif status.state == "disabled":
        log.info("connector %s disabled: %s", status.name, status.detail)
    else:
        log.error("connector %s left out (%s): %s", status.name, status.state, status.detail)


def _freeze(commands: dict[str, BoundCommand], statuses: tuple[ConnectorStatus, ...]) -> Registry:
    ordered = dict(sorted(commands.items()))
    entries = [catalog.command_entry(command_id, bound) for command_id, bound in ordered.items()]
    descriptions = {
        command_id: dumps(catalog.full_description(command_id, bound))
        for command_id, bound in ordered.items()
    }
    pools = {
        bound.connector: bound.resources
        for bound in ordered.values()
        if isinstance(bound.resources, WorkerPool)
    }
    return Registry(
        pools=MappingProxyType(pools),
        commands=MappingProxyType(ordered),
        statuses=statuses,
        catalog_json=dumps(entries),
        connectors_json=dumps([status.describe() for status in statuses]),
        descriptions=MappingProxyType(descriptions),
    )

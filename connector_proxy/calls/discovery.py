"""Find connectors, once, and build the registry.

Two kinds are found: packages exposing a Connector through the
``connector_proxy.connectors`` entry-point group, and SpiffWorkflow's own
connector packages (top-level ``connector_<name>`` modules with a ``commands``
subpackage, see :mod:`connector_proxy.legacy`), unless
``discovery.spiffworkflow_packages`` is off. When both offer one name,
``discovery.prefer`` decides and the other is reported as a duplicate. A
connector that fails to import, is not a Connector, or whose configuration is
invalid is reported and left out; the others serve.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import MappingProxyType
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match

from connector_proxy.calls import catalog
from connector_proxy.calls.refreshing import Refreshing
from connector_proxy.calls.registry import (
    READY,
    BoundAuth,
    BoundCheck,
    BoundCommand,
    BoundTrigger,
    BoundTypeahead,
    ConnectorStatus,
    Registry,
    Runner,
)
from connector_proxy.calls.site_paths import read_new_path_files
from connector_proxy.calls.validation import check_draft, closed, parameters_validator, rule_in_words
from connector_proxy.config import ConnectorSettings, Settings
from connector_proxy.host.interfaces import SDK, SPIFFWORKFLOW
from connector_proxy.host.jsontext import dumps
from connector_proxy.isolation.pool import WorkerPool
from connector_proxy.isolation.remote import forwarding, isolated_connector, worker_command
from connector_proxy.legacy.packages import Package, find_packages, load_package
from connector_proxy.process.concurrency import within
from connector_proxy.sdk.connector import Command, Connector
from connector_proxy.sdk.factories import FACTORY_GROUP, CannotBuild, ConnectorFactory, Recipe
from connector_proxy.sdk.invocation import exits_refused, guard_exits, invoke
from connector_proxy.secrets import SecretReferenceError, mask_secrets, resolve_secrets, rotating
from connector_proxy.telemetry.redaction import redact

GROUP = "connector_proxy.connectors"
log = logging.getLogger(__name__)


class ConnectorRejected(Exception):
    """Why one connector was left out; ``state`` is what the status endpoint shows."""

    def __init__(self, state: str, detail: str) -> None:
        super().__init__(detail)
        self.state = state
        self.detail = detail


@dataclass(frozen=True)
class Candidate:
    """An installed connector discovery may load: an entry point or a SpiffWorkflow package."""

    name: str
    origin: str  # the entry point's value, or the package's module
    interface: str  # SDK or SPIFFWORKFLOW
    distribution: str | None
    version: str | None
    load: Callable[[], Any]  # imports it (bounded by discovery.import_timeout, in a thread of its own)
    # a factory's build from what ``load`` gave, run where discovery runs: its I/O has deadlines of its
    # own, and under gevent sockets used in the import's real thread hang the master before it forks
    make: Callable[[Any], Connector] | None = None


@dataclass
class Bindings:
    """What one connector adds to the registry, and the pool it runs in if isolated."""

    commands: dict[str, BoundCommand] = field(default_factory=dict)
    auths: dict[str, BoundAuth] = field(default_factory=dict)
    typeaheads: dict[str, BoundTypeahead] = field(default_factory=dict)
    triggers: dict[str, BoundTrigger] = field(default_factory=dict)
    checks: dict[str, BoundCheck] = field(default_factory=dict)
    pools: dict[str, WorkerPool] = field(default_factory=dict)

    def update(self, other: Bindings) -> None:
        self.commands.update(other.commands)
        self.auths.update(other.auths)
        self.typeaheads.update(other.typeaheads)
        self.triggers.update(other.triggers)
        self.checks.update(other.checks)
        self.pools.update(other.pools)


@dataclass(frozen=True)
class Discovered:
    """What discovery found: the registry requests read, and the isolated connectors' pools,
    which each process starts and stops (see :mod:`connector_proxy.process.services`)."""

    registry: Registry
    pools: Mapping[str, WorkerPool]


def discover(
    settings: Settings, found: Iterable[EntryPoint] | None = None, packages: Iterable[Package] | None = None
) -> Discovered:
    """Load every installed connector the settings enable, those installed since start-up included."""
    read_new_path_files()  # a reload finds what pip install -e added after the interpreter started
    guard_exits()  # a connector's import calling os._exit() must not end the process discovering it
    statuses: dict[str, ConnectorStatus] = {}
    bindings = Bindings()
    for name, connector_settings in settings.connectors.items():
        if connector_settings.isolated:  # configured isolation wins over a package installed here
            statuses[name], bound = _load_isolated(name, connector_settings, settings)
            bindings.update(bound)
        elif connector_settings.built_from is not None:  # the operator's source wins too
            statuses[name], bound = _load(_from_factory(name, connector_settings, settings), settings)
            bindings.update(bound)
    for candidate in _candidates(settings, found, packages):
        configured = settings.connector(candidate.name)
        if configured is not None and (configured.isolated or configured.built_from is not None):
            continue
        if candidate.name in statuses:
            statuses[f"{candidate.name}#{candidate.origin}"] = _status_of(
                candidate, "duplicate", _duplicate_detail(candidate, statuses[candidate.name], settings)
            )
            continue
        statuses[candidate.name], bound = _load(candidate, settings)
        bindings.update(bound)
    for name in settings.connectors:
        if name not in statuses:
            statuses[name] = ConnectorStatus(name, "not_installed", "configured but no package provides it")
    for status in statuses.values():
        _report(status)
    return Discovered(_freeze(bindings, tuple(statuses.values()), settings), MappingProxyType(bindings.pools))


def _candidates(
    settings: Settings, found: Iterable[EntryPoint] | None, packages: Iterable[Package] | None
) -> list[Candidate]:
    """Every candidate by name; for one name, the preferred kind first (``discovery.prefer``)."""
    points = entry_points(group=GROUP) if found is None else found
    candidates = [_from_entry_point(point) for point in points]
    if settings.discovery.spiffworkflow_packages:
        candidates += [
            _from_package(package) for package in (find_packages() if packages is None else packages)
        ]
    first = SPIFFWORKFLOW if settings.discovery.prefer == "spiffworkflow" else SDK
    return sorted(candidates, key=lambda c: (c.name, c.interface != first))


def _from_entry_point(point: EntryPoint) -> Candidate:
    dist = point.dist
    return Candidate(
        name=point.name,
        origin=point.value,
        interface=SDK,
        distribution=dist.name if dist is not None else None,
        version=dist.version if dist is not None else None,
        load=partial(_load_entry_point, point),
    )


def _from_factory(name: str, connector_settings: ConnectorSettings, settings: Settings) -> Candidate:
    """A connector the operator has built by an installed factory from a source (a document)."""
    factory, source = connector_settings.built_from or ("", "")
    point = next(iter(entry_points(group=FACTORY_GROUP, name=factory)))  # config took installed names only
    folder = settings.source.parent if settings.source else Path.cwd()
    recipe = Recipe(name, source, folder, connector_settings.config)
    dist = point.dist
    return Candidate(
        name=name,
        origin=f"{factory} = {redact(source)}",  # a URL's path and query may carry a token
        interface=SDK,
        distribution=dist.name if dist is not None else None,
        version=dist.version if dist is not None else None,
        load=point.load,
        make=partial(_build, point, recipe),
    )


def _build(point: EntryPoint, recipe: Recipe, factory: ConnectorFactory) -> Connector:
    """The factory's connector; CannotBuild leaves it out with the reason (state build_error)."""
    try:
        built = factory(recipe)
    except CannotBuild as problem:
        raise ConnectorRejected("build_error", str(problem)) from None
    if not isinstance(built, Connector) or built.name != recipe.name:
        raise ConnectorRejected("invalid", f"{point.value} did not build a Connector named {recipe.name!r}")
    return built


def _from_package(package: Package) -> Candidate:
    return Candidate(
        name=package.name,
        origin=package.module,
        interface=SPIFFWORKFLOW,
        distribution=package.distribution,
        version=package.version,
        load=partial(load_package, package),
    )


def _duplicate_detail(candidate: Candidate, kept: ConnectorStatus, settings: Settings) -> str:
    kept_origin = kept.module or kept.entry_point or "the configuration"
    if candidate.interface == kept.interface:
        return f"another package ({kept_origin}) already provides {candidate.name!r}"
    return (
        f"{kept_origin} also provides {candidate.name!r} and is preferred"
        f" (discovery.prefer = {settings.discovery.prefer!r})"
    )


def _load(candidate: Candidate, settings: Settings) -> tuple[ConnectorStatus, Bindings]:
    connector_settings = settings.connector(candidate.name)
    if connector_settings is None and not settings.discovery.enable_unlisted:
        return _status_of(candidate, "disabled", "not listed in the configuration"), Bindings()
    connector_settings = connector_settings or ConnectorSettings()
    if not connector_settings.enabled:
        return _status_of(candidate, "disabled", "enabled = false"), Bindings()
    try:
        connector = _import(candidate, settings.discovery.import_timeout)
        config = _configure(connector, connector_settings, settings.environ)
        resources = _setup(connector, config)
        live = _refreshing(
            connector, connector_settings, settings, (config, resources), partial(_setup, connector)
        )
        bound = _bind(connector, live, in_process)
    except ConnectorRejected as rejected:
        return _status_of(candidate, rejected.state, rejected.detail), Bindings()
    status = _status_of(candidate, READY, None, connector, config)  # in effect: defaults filled in
    return status, bound


def _load_isolated(
    name: str, connector_settings: ConnectorSettings, settings: Settings
) -> tuple[ConnectorStatus, Bindings]:
    built = None
    if connector_settings.built_from is not None and settings.source is not None:
        built = (*connector_settings.built_from, str(settings.source.resolve()))
    command = worker_command(name, connector_settings.python, connector_settings.program, built)
    if not connector_settings.enabled:
        return ConnectorStatus(name, "disabled", "enabled = false", runs=command), Bindings()
    cwd = settings.source.parent if settings.source else None
    try:
        connector, interface = isolated_connector(
            name, command, connector_settings.workers, cwd, connector_settings.limits
        )
    except Exception as error:  # the program is missing, exits, or does not speak the protocol
        detail = f"{type(error).__name__}: {error}"
        return ConnectorStatus(name, "worker_error", detail, runs=command), Bindings()
    try:
        config = _configure(connector, connector_settings, settings.environ)
        pool: WorkerPool = _setup(connector, config)
        live = _refreshing(connector, connector_settings, settings, (config, pool), pool.reconfigure)
        bound = _bind(connector, live, partial(forwarding, pool))
    except ConnectorRejected as rejected:
        return ConnectorStatus(name, rejected.state, rejected.detail, runs=command), Bindings()
    bound.pools[name] = pool
    schema = connector.config_schema
    status = ConnectorStatus(
        name,
        READY,
        version=connector.version,
        description=connector.description,
        config_schema=schema,
        masked_config=mask_secrets(schema, dict(config)),  # in effect: defaults filled in
        runs=command,
        interface=interface,
        live_check=_check_description(connector),
    )
    return status, bound


def _import(candidate: Candidate, seconds: float) -> Connector:
    try:
        loaded = within(seconds, partial(exits_refused, candidate.load))
        return loaded if candidate.make is None else candidate.make(loaded)
    except TimeoutError:  # its import stays stuck in a thread of its own; the daemon starts without it
        raise ConnectorRejected(
            "import_error", f"did not import within {seconds:g} s (discovery.import_timeout)"
        ) from None
    except ConnectorRejected:
        raise
    except Exception as error:  # any failure of third-party code must not stop the daemon
        log.exception("connector %s failed to import", candidate.name)
        raise ConnectorRejected("import_error", f"{type(error).__name__}: {error}") from None


def _load_entry_point(point: EntryPoint) -> Connector:
    loaded = point.load()
    if not isinstance(loaded, Connector):
        raise ConnectorRejected("invalid", f"{point.value} is not a connector_proxy.sdk.Connector")
    if loaded.name != point.name:
        raise ConnectorRejected("invalid", f"entry point {point.name!r} names connector {loaded.name!r}")
    return loaded


def _configure(
    connector: Connector, connector_settings: ConnectorSettings, environ: Mapping[str, str]
) -> Mapping[str, Any]:
    return configured(connector.config_schema, connector_settings.config, environ)


def configured(
    schema: Mapping[str, Any], table: Mapping[str, Any], environ: Mapping[str, str]
) -> Mapping[str, Any]:
    """A table checked against its schema, secrets resolved, top-level defaults filled in (a
    connector's configuration, a subscription's settings); ConnectorRejected says what is wrong."""
    try:
        check_draft(schema)
        config = resolve_secrets(schema, dict(table), environ)
        error = best_match(closed(schema, Draft202012Validator).iter_errors(config))
    except SchemaError as schema_error:
        raise ConnectorRejected("invalid", f"config schema: {schema_error.message}") from None
    except SecretReferenceError as reference_error:
        raise ConnectorRejected("config_error", str(reference_error)) from None
    if error is not None:
        raise ConnectorRejected("config_error", _config_problem(error))
    return MappingProxyType({**_defaults(schema), **config})


def _defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema's top-level defaults: filled in here once, so no setup or command repeats them."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    return {name: entry["default"] for name, entry in properties.items() if "default" in entry}


def _config_problem(error: ValidationError) -> str:
    where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    if error.validator in ("required", "additionalProperties"):
        return f"{where}: {error.message}"
    return f"{where}: {rule_in_words(error, show_pattern=False)}"  # the rule, never the value: a secret


def _refreshing(
    connector: Connector,
    connector_settings: ConnectorSettings,
    settings: Settings,
    made: tuple[Mapping[str, Any], Any],
    set_up: Callable[[Mapping[str, Any]], Any],
) -> Refreshing:
    """The connector's configuration and resources as made now, read again after secrets.cache_seconds
    when a secret of it lives somewhere it may change (set up again if it did)."""
    every = settings.secrets.cache_seconds
    if not every or not rotating(connector.config_schema, connector_settings.config):
        return Refreshing(connector.name, *made)

    def configure() -> Mapping[str, Any]:
        return _configure(connector, connector_settings, settings.environ)

    return Refreshing(connector.name, *made, every=every, configure=configure, set_up=set_up)


def _setup(connector: Connector, config: Mapping[str, Any]) -> Any:
    if connector.setup is None:
        return None
    try:
        return connector.setup(config)
    except Exception as error:  # a connector's setup is third-party code
        log.exception("connector %s failed to set up", connector.name)
        raise ConnectorRejected("setup_error", f"{type(error).__name__}: {error}") from None


def in_process(command: Command) -> Runner:
    """How an in-process command runs: the SDK's invoke, as an isolated worker runs it."""
    return partial(invoke, command)


def _bind(connector: Connector, live: Refreshing, runner: Callable[[Command], Runner]) -> Bindings:
    logger = logging.getLogger(f"connector_proxy.connectors.{connector.name}")
    bindings = Bindings()
    checked: set[int] = set()  # $defs entries the connector's commands share, checked once
    for command in connector.commands.values():
        try:
            validator = parameters_validator(command.parameters, checked)
        except SchemaError as error:
            raise ConnectorRejected("invalid", f"{command.name}: {error.message}") from None
        canonical = f"{connector.name}/{command.name}"
        properties: dict[str, Any] = command.parameters.get("properties", {})
        optional = frozenset(set(properties) - set(command.parameters.get("required", ())))
        defaults = MappingProxyType(_defaults(command.parameters))
        entry = BoundCommand(
            canonical,
            connector.name,
            command,
            runner(command),
            validator,
            live,
            logger,
            optional,
            defaults,
        )
        for name in (command.name, *command.aliases):
            bindings.commands[f"{connector.name}/{name}"] = entry
    for auth in connector.auths.values():
        auth_id = f"{connector.name}/{auth.name}"
        bindings.auths[auth_id] = BoundAuth(auth_id, connector.name, auth, live)
    for typeahead in connector.typeaheads.values():
        category = f"{connector.name}/{typeahead.name}"
        bindings.typeaheads[category] = BoundTypeahead(category, connector.name, typeahead, live, logger)
    for trigger in connector.triggers.values():
        trigger_id = f"{connector.name}/{trigger.name}"
        bindings.triggers[trigger_id] = BoundTrigger(trigger_id, connector.name, trigger, live, logger)
    if connector.live_check is not None:
        check = BoundCheck(connector.name, connector.live_check, live, logger)
        bindings.checks[connector.name] = check
    return bindings


def _status_of(
    candidate: Candidate,
    state: str,
    detail: str | None,
    connector: Connector | None = None,
    config: Mapping[str, Any] | None = None,
) -> ConnectorStatus:
    schema = connector.config_schema if connector else {}
    legacy = candidate.interface == SPIFFWORKFLOW
    return ConnectorStatus(
        name=candidate.name,
        state=state,
        detail=detail,
        version=(connector.version if connector and connector.version else candidate.version),
        description=connector.description if connector else "",
        distribution=candidate.distribution,
        entry_point=None if legacy else candidate.origin,
        config_schema=schema,
        masked_config=mask_secrets(schema, dict(config or {})),
        interface=candidate.interface,
        module=candidate.origin if legacy else None,
        live_check=_check_description(connector) if state == READY else None,
    )


def _check_description(connector: Connector | None) -> str | None:
    """What the connector's live check does, as /v1/connectors shows it (None: it offers none)."""
    check = connector.live_check if connector else None
    return None if check is None else check.description or "a live check"


def _report(status: ConnectorStatus) -> None:
    if status.state == READY:
        log.info("connector %s %s ready", status.name, status.version or "")
    elif status.state == "disabled":
        log.info("connector %s disabled: %s", status.name, status.detail)
    else:
        log.error("connector %s left out (%s): %s", status.name, status.state, status.detail)


def _typeahead_names(
    typeaheads: Mapping[str, BoundTypeahead], settings: Settings
) -> tuple[dict[str, str], frozenset[str], tuple[str, ...]]:
    """Each category's one-segment name: the operator's, else ``<connector>.<name>``; the categories
    the operator opened (named in ``[connectors.<name>.typeahead]``: served without the API key). A name
    two categories want goes to neither; a name configured for no category is reported too."""
    wanted: dict[str, list[str]] = {}
    opened = set()
    problems = []
    for category, bound in typeaheads.items():
        own = bound.typeahead.name
        configured = settings.connector(bound.connector)
        table = configured.typeahead if configured else {}
        public = table.get(own, f"{bound.connector}.{own}")
        if own in table:
            opened.add(category)
        wanted.setdefault(public, []).append(category)
    for name, configured in settings.connectors.items():
        for own in set(configured.typeahead) - {
            t.typeahead.name for t in typeaheads.values() if t.connector == name
        }:
            problems.append(f"[connectors.{name}.typeahead] {own}: the connector offers no such category")
    for public, categories in wanted.items():
        if len(categories) > 1:
            problems.append(
                f"typeahead name {public!r} is wanted by {' and '.join(categories)}: neither has it"
            )
    for problem in problems:
        log.warning("%s", problem)
    names = {public: c[0] for public, c in wanted.items() if len(c) == 1}
    return names, frozenset(opened & set(names.values())), tuple(problems)


class Rendered(Mapping[str, bytes]):
    """``GET /v1/commands/<id>``'s documents, each written when first asked for and then kept: a
    connector built from a big OpenAPI document has a thousand commands, most never described."""

    def __init__(self, commands: Mapping[str, BoundCommand]) -> None:
        self._commands = commands
        self._written: dict[str, bytes] = {}

    def __getitem__(self, command_id: str) -> bytes:
        written = self._written.get(command_id)
        if written is None:
            written = dumps(catalog.full_description(command_id, self._commands[command_id]))
            self._written[command_id] = written
        return written

    def __iter__(self) -> Iterator[str]:
        return iter(self._commands)

    def __len__(self) -> int:
        return len(self._commands)


def _freeze(bindings: Bindings, statuses: tuple[ConnectorStatus, ...], settings: Settings) -> Registry:
    ordered = dict(sorted(bindings.commands.items()))
    entries = [catalog.command_entry(command_id, bound) for command_id, bound in ordered.items()]
    descriptions = Rendered(ordered)
    auths = dict(sorted(bindings.auths.items()))
    typeaheads = dict(sorted(bindings.typeaheads.items()))
    names, opened, problems = _typeahead_names(typeaheads, settings)
    return Registry(
        commands=MappingProxyType(ordered),
        statuses=statuses,
        catalog_json=dumps(entries),
        connectors_json=dumps([status.describe() for status in statuses]),
        descriptions=descriptions,
        auths=MappingProxyType(auths),
        auths_json=dumps([catalog.auth_entry(bound) for bound in auths.values() if bound.auth.interactive]),
        typeaheads=MappingProxyType(typeaheads),
        typeahead_names=MappingProxyType(names),
        typeahead_open=opened,
        typeahead_problems=problems,
        triggers=MappingProxyType(dict(sorted(bindings.triggers.items()))),
        checks=MappingProxyType(dict(sorted(bindings.checks.items()))),
    )

"""The immutable registry: every installed connector, its state, its commands.

Built once at start-up by :mod:`connector_proxy.calls.discovery`; requests only
read it, so lookups and the catalog cost a dict access.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from jsonschema.protocols import Validator

from connector_proxy.calls.refreshing import Refreshing
from connector_proxy.host.interfaces import SDK
from connector_proxy.sdk.auth import OAuth2
from connector_proxy.sdk.connector import Check, Command, Typeahead
from connector_proxy.sdk.context import Context
from connector_proxy.sdk.invocation import Invocation
from connector_proxy.sdk.parameters import JsonSchema
from connector_proxy.sdk.triggers import Trigger

READY = "ready"
FINE = frozenset({READY, "disabled", "duplicate"})  # states that need no operator (a duplicate's twin serves)


@dataclass(frozen=True)
class ConnectorStatus:
    """What the status endpoint shows of one connector, working or not."""

    name: str
    state: str
    detail: str | None = None
    version: str | None = None
    description: str = ""
    distribution: str | None = None
    entry_point: str | None = None
    config_schema: JsonSchema = field(default_factory=dict)
    masked_config: Mapping[str, Any] = field(default_factory=dict)
    runs: tuple[str, ...] = ()  # for an isolated connector: the worker's command line
    interface: str = SDK
    module: str | None = None  # for a SpiffWorkflow package: its top-level module
    live_check: str | None = None  # what its live check does (@connector.check), if it offers one

    def describe(self) -> dict[str, Any]:
        return {
            "mode": "isolated" if self.runs else "in_process",
            "runs": list(self.runs) or None,
            "name": self.name,
            "state": self.state,
            "detail": self.detail,
            "version": self.version,
            "description": self.description,
            "interface": self.interface,
            "distribution": self.distribution,
            "entry_point": self.entry_point,
            "module": self.module,
            "config_schema": self.config_schema,
            "config": self.masked_config,
            "live_check": self.live_check,
        }


class UsesConnector:
    """A bound part's connector configuration and resources, read through its ``live`` holder (current
    after a rotated secret's refresh). For a Context, take both at once: ``live.in_use()``."""

    live: Refreshing

    @property
    def config(self) -> Mapping[str, Any]:
        return self.live.config

    @property
    def resources(self) -> Any:
        return self.live.resources


# how a bound command runs: in this process (the SDK's invoke) or in an isolated connector's worker
Runner = Callable[[Context, dict[str, Any]], Invocation]


@dataclass(frozen=True)
class BoundCommand(UsesConnector):
    """A command joined to its connector's configuration, resources, and the way it runs."""

    id: str
    connector: str
    command: Command
    run: Runner
    validator: Validator
    live: Refreshing  # the connector's configuration and resources, current
    logger: logging.Logger
    optional: frozenset[str]  # parameters where null means "not given"
    defaults: Mapping[str, Any]  # schema defaults, filled in before the command runs


@dataclass(frozen=True)
class BoundAuth(UsesConnector):
    """An OAuth sign-in joined to its connector's configuration (where the client id lives)."""

    id: str
    connector: str
    auth: OAuth2
    live: Refreshing


@dataclass(frozen=True)
class BoundTypeahead(UsesConnector):
    """A typeahead category joined to its connector's configuration and resources."""

    id: str
    connector: str
    typeahead: Typeahead
    live: Refreshing
    logger: logging.Logger


@dataclass(frozen=True)
class BoundCheck(UsesConnector):
    """A connector's live check joined to its configuration and resources."""

    connector: str
    check: Check
    live: Refreshing
    logger: logging.Logger


@dataclass(frozen=True)
class BoundTrigger(UsesConnector):
    """A trigger joined to its connector's configuration and resources (subscriptions use it)."""

    id: str
    connector: str
    trigger: Trigger
    live: Refreshing
    logger: logging.Logger


@dataclass(frozen=True)
class Registry:
    """Lookups by command id (aliases included) and the pre-rendered catalog."""

    commands: Mapping[str, BoundCommand]
    statuses: tuple[ConnectorStatus, ...]
    catalog_json: bytes
    connectors_json: bytes
    descriptions: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    auths: Mapping[str, BoundAuth] = field(default_factory=lambda: MappingProxyType({}))
    auths_json: bytes = b"[]"
    typeaheads: Mapping[str, BoundTypeahead] = field(default_factory=lambda: MappingProxyType({}))
    # one-segment names (what a SpiffWorkflow form can ask for) -> categories, and why any was refused
    typeahead_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    typeahead_open: frozenset[str] = frozenset()  # categories served without the API key
    typeahead_problems: tuple[str, ...] = ()
    triggers: Mapping[str, BoundTrigger] = field(default_factory=lambda: MappingProxyType({}))
    checks: Mapping[str, BoundCheck] = field(default_factory=lambda: MappingProxyType({}))  # by connector

    def find(self, command_id: str) -> BoundCommand | None:
        return self.commands.get(command_id)

    def typeahead(self, category: str) -> BoundTypeahead | None:
        """A category by its ``<connector>/<name>`` or by its one-segment name."""
        return self.typeaheads.get(category) or self.typeaheads.get(self.typeahead_names.get(category, ""))

    @property
    def troubled(self) -> tuple[ConnectorStatus, ...]:
        """Connectors an operator must look at: left out for a reason other than being disabled."""
        return tuple(s for s in self.statuses if s.state not in FINE)

    def left_out(self, connector: str) -> ConnectorStatus | None:
        """The status of a connector an operator must look at, by name; None when it is fine or unknown."""
        return next((s for s in self.troubled if s.name == connector), None)

    @property
    def ready(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.statuses if s.state == READY)

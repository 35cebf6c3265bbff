"""The immutable registry: every installed connector, its state, its commands.

Built once at start-up by :mod:`connector_proxy.discovery`; requests only
read it, so lookups and the catalog cost a dict access.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from jsonschema import Draft202012Validator

from connector_proxy.sdk.connector import Command
from connector_proxy.sdk.parameters import JsonSchema

READY = "ready"


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

    def describe(self) -> dict[str, Any]:
        return {
            "mode": "isolated" if self.runs else "in_process",
            "runs": list(self.runs) or None,
            "name": self.name,
            "state": self.state,
            "detail": self.detail,
            "version": self.version,
            "description": self.description,
            "distribution": self.distribution,
            "entry_point": self.entry_point,
            "config_schema": self.config_schema,
            "config": self.masked_config,
        }


@dataclass(frozen=True)
class BoundCommand:
    """A command joined to its connector's configuration and resources."""

    id: str
    connector: str
    command: Command
    validator: Draft202012Validator
    config: Mapping[str, Any]
    resources: Any
    logger: logging.Logger
    optional: frozenset[str]  # parameters where null means "not given"
    defaults: Mapping[str, Any]  # schema defaults, filled in before the command runs


@dataclass(frozen=True)
class Registry:
    """Lookups by command id (aliases included) and the pre-rendered catalog."""

    commands: Mapping[str, BoundCommand]
    statuses: tuple[ConnectorStatus, ...]
    catalog_json: bytes
    connectors_json: bytes
    descriptions: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    pools: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # isolated: WorkerPool

    def find(self, command_id: str) -> BoundCommand | None:
        return self.commands.get(command_id)

    @property
    def ready(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.statuses if s.state == READY)

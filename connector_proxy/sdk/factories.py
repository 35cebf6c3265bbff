"""Connectors built at start-up from something the operator names, such as an OpenAPI document.

A package offers a factory through the ``connector_proxy.factories`` entry-point group; its name is
the key an operator writes in a connector's table, its value the source to build from::

    [connectors.github]
    openapi = "specs/api.github.com.json"

The daemon hands the factory a :class:`Recipe` and serves the :class:`Connector` it returns like any
installed one (configured by ``[connectors.github.config]``, checked against its ``config_schema``).
A factory that cannot build raises :class:`CannotBuild`, saying why: that connector is left out with
the reason (state ``build_error``), the others serve. Reload builds again, so a changed source is
read again. Built-in factories use this group exactly as third-party ones do.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from connector_proxy.sdk.connector import Connector

FACTORY_GROUP = "connector_proxy.factories"


@dataclass(frozen=True)
class Recipe:
    """What a connector is built from: its name, the source as the operator wrote it, the folder a
    relative source is read from (the configuration's), and the connector's table (secrets still as
    references: a factory shapes commands from it, setup resolves them)."""

    name: str
    source: str
    folder: Path
    config: Mapping[str, Any] = field(default_factory=dict)


class CannotBuild(Exception):
    """The source cannot become a connector; the message says why (never a secret)."""


class ConnectorFactory(Protocol):
    """What a ``connector_proxy.factories`` entry point loads: a callable building one connector."""

    def __call__(self, recipe: Recipe) -> Connector: ...


CLI_GROUP = "connector_proxy.cli"


class CliAction(Protocol):
    """What a ``connector_proxy.cli`` entry point loads: an action of ``connector-proxy`` a package
    adds (``connector-proxy openapi inspect DOCUMENT``), named by the entry point. It reads no
    configuration; ``run`` answers the exit status."""

    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, arguments: argparse.Namespace) -> int: ...

"""Find SpiffWorkflow connector packages by the old proxy's rule, and load one as a Connector.

The rule: a top-level module whose name starts with ``connector_`` and that
has a ``commands`` subpackage; every class defined in a module of that
subpackage is a command, every class in ``auths`` an auth. Our own packages
(``connector_proxy*``) are not such packages. Finding reads folders only;
a package is imported when it is loaded, once, at start-up.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import packages_distributions, version
from types import ModuleType
from typing import Any

from connector_proxy.legacy.auths import auth_of
from connector_proxy.legacy.commands import command_of
from connector_proxy.sdk.connector import Connector

PREFIX = "connector_"
OURS = "connector_proxy"
# every string of the package's table may be an env:/file: reference, and is masked when shown
CONFIG_SCHEMA = {"type": "object", "additionalProperties": {"secret": True}}


@dataclass(frozen=True)
class Package:
    """An installed package that looks like a SpiffWorkflow connector."""

    name: str  # the connector's name: the module's, less "connector_"
    module: str
    distribution: str | None
    version: str | None


def find_packages(path: Sequence[str] | None = None) -> list[Package]:
    """Every top-level ``connector_*`` package with a ``commands`` subpackage, by name."""
    modules: list[str] = []
    for info in pkgutil.iter_modules(path):
        if not info.ispkg or not info.name.startswith(PREFIX) or info.name.startswith(OURS):
            continue
        if info.name not in modules and _has_commands(info):  # the first on the path wins, as for an import
            modules.append(info.name)
    distributions = packages_distributions() if modules else {}  # reads every dist-info: only when needed
    found = []
    for module in sorted(modules):
        owners = distributions.get(module) or []
        owner = owners[0] if owners else None
        found.append(Package(module[len(PREFIX) :], module, owner, _version(owner)))
    return found


def find_package(name: str) -> Package | None:
    """The package providing connector ``name``, if one is installed."""
    return next((p for p in find_packages() if p.name == name), None)


def load_package(package: Package) -> Connector:
    """Import the package and describe it as a Connector; import errors propagate to the caller."""
    module = importlib.import_module(package.module)
    auth_classes = list(_classes(module, "auths"))
    connector = Connector(package.name, description=_summary(module), version=package.version)

    def describe_auths(config: Mapping[str, Any]) -> None:
        # an auth class describes its provider from the configuration, known only now
        for class_name, cls in auth_classes:
            connector.auths[class_name] = auth_of(class_name, cls, config)

    connector.config_schema = CONFIG_SCHEMA
    connector.setup = describe_auths if auth_classes else None
    for class_name, cls in _classes(module, "commands"):
        connector.commands[class_name] = command_of(package.name, class_name, cls)
    return connector


def _has_commands(info: pkgutil.ModuleInfo) -> bool:
    spec = info.module_finder.find_spec(info.name, None)
    locations = spec.submodule_search_locations if spec is not None else None
    return bool(locations) and any(
        sub.name == "commands" and sub.ispkg for sub in pkgutil.iter_modules(list(locations or ()))
    )


def _classes(module: ModuleType, subpackage: str) -> Iterator[tuple[str, type]]:
    """Classes defined (not imported) in the subpackage's modules, as the old proxy listed them."""
    try:
        package = importlib.import_module(f"{module.__name__}.{subpackage}")
    except ModuleNotFoundError as missing:
        if missing.name == f"{module.__name__}.{subpackage}":
            return  # no such subpackage: nothing to offer
        raise
    for info in pkgutil.iter_modules(package.__path__):
        member_module = importlib.import_module(f"{package.__name__}.{info.name}")
        for class_name, cls in inspect.getmembers(member_module, inspect.isclass):
            if cls.__module__ == member_module.__name__:
                yield class_name, cls


def _summary(module: ModuleType) -> str:
    return (inspect.getdoc(module) or "").split("\n\n")[0].strip()


def _version(distribution: str | None) -> str | None:
    return version(distribution) if distribution else None

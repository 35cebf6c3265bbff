"""The house stays layered: the SDK below the daemon, each of the daemon's packages in its layer
(LAYERS, from the bottom up), the web layer near the top, no import cycles. Read from the source:
every import, at module level or in a function, for the type checker (TYPE_CHECKING) or at run time,
relative ones too."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector_proxy.sdk.testing import MOVED

PACKAGE = Path(__file__).parents[2] / "connector_proxy"


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(path): path for path in PACKAGE.rglob("*.py")}


# deprecated aliases: an old name kept where it was, imported from its new home when it is used
# (module __getattr__) and for the type checker; the only upward imports, each declared here.
# sdk.testing: app_client, the daemon harness (RunningDaemon, start_owned...) and the host's stand-ins
# (ServiceTaskHost, MessageHost) moved to connector_proxy.testing, which builds or starts the daemon
ALIASES = {"connector_proxy.sdk.testing": {"connector_proxy.testing"}}


def _imported(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import in the source, and whether it is a deprecated alias's (in ``__getattr__`` or
    under TYPE_CHECKING)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.If):
            aliased = isinstance(node, ast.If) or node.name == "__getattr__"
            if isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    yield inner, aliased
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, False


def imports_of(module: str, aliases_too: bool = False) -> set[str]:
    """The project's modules that ``module`` imports anywhere in its source (a relative import fails)."""
    found: set[str] = set()
    aliased: set[str] = set()
    for node, alias in _imported(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module, f"{module}: a relative import"
            submodules = {f"{node.module}.{name.name}" for name in node.names} & MODULES.keys()
            names = submodules or ({node.module} & MODULES.keys())
        else:
            names = {name.name for name in node.names if name.name in MODULES}
        (aliased if alias else found).update(names)
    declared = ALIASES.get(module, set())
    unaliased = found - (aliased & declared)  # an alias's import counts only where it is declared one
    return (found if aliases_too else unaliased) - {module}


GRAPH = {module: imports_of(module) for module in MODULES}


def test_the_declared_aliases_are_the_only_exceptions() -> None:
    for module, targets in ALIASES.items():
        assert targets <= imports_of(module, aliases_too=True) - GRAPH[module], module


def test_every_import_is_read() -> None:
    """Imports in a function and under TYPE_CHECKING count: the test reads them."""
    assert "connector_proxy.jobs.runner" in GRAPH["connector_proxy.jobs.service"]  # inside create_jobs()


def _inside(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in packages)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _inside(m, "connector_proxy.sdk")))
def test_the_sdk_imports_only_the_sdk(module: str) -> None:
    assert sorted(m for m in GRAPH[module] if not _inside(m, "connector_proxy.sdk")) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_web_layer_and_what_serves_it_import_web(module: str) -> None:
    if _inside(
        module,
        "connector_proxy.web",
        "connector_proxy.cli",
        "connector_proxy.testing",
    ):
        return
    assert sorted(m for m in GRAPH[module] if _inside(m, "connector_proxy.web")) == []


# The house from the bottom up: a module imports only from its own layer or the layers below it (the
# longest prefix names a module's layer). The call's package spans two: its core sits below the jobs,
# events and proxies that run calls, its dispatch above them, deciding which of them runs one.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("connector_proxy",),  # __version__
    ("connector_proxy.sdk",),
    ("connector_proxy.legacy",),
    ("connector_proxy.host",),
    ("connector_proxy.telemetry",),
    ("connector_proxy.process",),
    ("connector_proxy.secrets",),
    ("connector_proxy.config",),
    ("connector_proxy.stores",),
    ("connector_proxy.isolation",),
    ("connector_proxy.oauth",),
    ("connector_proxy.calls",),
    ("connector_proxy.models", "connector_proxy.jobs", "connector_proxy.events", "connector_proxy.proxies"),
    ("connector_proxy.calls.dispatch",),
    ("connector_proxy.web",),
    ("connector_proxy.testing", "connector_proxy.cli", "connector_proxy.__main__"),
)


def layer_of(module: str) -> int:
    found = [(len(p), i) for i, layer in enumerate(LAYERS) for p in layer if _inside(module, p)]
    assert found, f"{module} is in no layer: add its package to LAYERS"
    return max(found)[1]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_runs_upward(module: str) -> None:
    upward = sorted(m for m in GRAPH[module] if layer_of(m) > layer_of(module))
    assert upward == [], f"{module} (layer {layer_of(module)}) imports from above it"


def test_the_top_level_holds_packages() -> None:
    """Loose modules at the top: the package's entry points, its configuration and its test kit."""
    loose = {p.stem for p in PACKAGE.glob("*.py")}
    assert sorted(loose - {"__init__", "__main__", "config", "testing"}) == []


def test_the_configuration_imports_no_feature_package() -> None:
    features = ("connector_proxy.jobs", "connector_proxy.events", "connector_proxy.isolation")
    imported = {m for module in MODULES if _inside(module, "connector_proxy.config") for m in GRAPH[module]}
    assert sorted(m for m in imported if _inside(m, *features, "connector_proxy.web")) == []


def test_no_modules_import_each_other() -> None:
    cycles = []
    for module, imported in GRAPH.items():
        for other in imported:
            if module in _reachable(other):
                cycles.append(sorted((module, other)))
    assert cycles == []


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in GRAPH[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


@pytest.mark.parametrize("name", sorted(MOVED))
def test_what_moved_out_of_the_sdk_kit_keeps_its_old_name(name: str) -> None:
    import connector_proxy.sdk.testing as sdk_testing
    import connector_proxy.testing as daemon_testing

    with pytest.warns(DeprecationWarning, match=rf"connector_proxy\.testing\.{name}\b"):
        assert getattr(sdk_testing, name) is getattr(daemon_testing, name)


def test_the_kit_names_only_what_stayed() -> None:
    import connector_proxy.sdk.testing as sdk_testing

    assert sorted(set(sdk_testing.__all__) & sdk_testing.MOVED) == []
    with pytest.raises(AttributeError):
        sdk_testing.never_there  # noqa: B018

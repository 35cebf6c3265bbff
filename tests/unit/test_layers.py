"""The house stays layered: the SDK below the daemon, the daemon's core below the web layer, no
import cycles. Read from the source (module-level imports; TYPE_CHECKING and deferred ones apart)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "connector_proxy"


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(path): path for path in PACKAGE.rglob("*.py")}


def _top_level_nodes(tree: ast.Module, typing_too: bool) -> Iterator[ast.AST]:
    for node in tree.body:
        if not typing_too and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue  # for the type checker only: no import at run time
        yield from ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else (node,)


def imports_of(module: str, typing_too: bool = False) -> set[str]:
    """The project's modules that ``module`` imports when it is imported (or, ``typing_too``, names)."""
    found = set()
    for node in _top_level_nodes(ast.parse(MODULES[module].read_text()), typing_too):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in MODULES:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & MODULES.keys()
            found |= submodules or {node.module}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in MODULES}
    return found - {module}


GRAPH = {module: imports_of(module) for module in MODULES}
NAMED = {module: imports_of(module, typing_too=True) for module in MODULES}  # for cycles: types tangle too


def _inside(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in packages)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _inside(m, "connector_proxy.sdk")))
def test_the_sdk_imports_only_the_sdk(module: str) -> None:
    assert sorted(m for m in GRAPH[module] if not _inside(m, "connector_proxy.sdk")) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_web_layer_and_what_serves_it_import_web(module: str) -> None:
    if _inside(module, "connector_proxy.web", "connector_proxy.server", "connector_proxy.cli"):
        return
    assert sorted(m for m in GRAPH[module] if _inside(m, "connector_proxy.web")) == []


def test_the_configuration_imports_no_feature_package() -> None:
    features = ("connector_proxy.jobs", "connector_proxy.events", "connector_proxy.isolation")
    imported = GRAPH["connector_proxy.config"]
    assert sorted(m for m in imported if _inside(m, *features, "connector_proxy.web")) == []


def test_no_modules_import_each_other() -> None:
    cycles = []
    for module, imported in NAMED.items():
        for other in imported:
            if module in _reachable(other):
                cycles.append(sorted((module, other)))
    assert cycles == []


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in NAMED[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen

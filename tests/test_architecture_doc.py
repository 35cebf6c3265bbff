"""docs/architecture.md names every module of the daemon, and nothing that is not in the tree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
DOC = ROOT / "docs" / "architecture.md"
ENTRY = re.compile(r"^((?:  ){0,4})([\w.]+/|[\w.]+\.py)(?=\s|$)")  # deeper: a description's next line


def listed() -> set[str]:
    """The tree's paths the document's map names (connector_proxy/ and what it holds), by indentation."""
    text = DOC.read_text()
    tree = text.split("```", 2)[1]
    found: set[str] = set()
    parents: list[tuple[int, str]] = []
    for line in tree.splitlines():
        match = ENTRY.match(line)
        if not match:
            continue
        depth, name = len(match.group(1)), match.group(2)
        parents = [(d, p) for d, p in parents if d < depth]
        path = "".join(p for _, p in parents) + name
        if name.endswith("/"):
            parents.append((depth, name))
        found.add(path)
    return {path for path in found if path.startswith("connector_proxy/")}


def modules() -> set[str]:
    package = ROOT / "connector_proxy"
    paths = {p.relative_to(ROOT).as_posix() for p in package.rglob("*.py") if p.name != "__init__.py"}
    folders = {f"{p.parent.relative_to(ROOT).as_posix()}/" for p in package.rglob("__init__.py")}
    return paths | folders


def test_every_module_is_on_the_map() -> None:
    assert sorted(modules() - listed()) == []


def test_the_map_names_nothing_missing() -> None:
    assert sorted(listed() - modules()) == []


def test_every_doc_is_named() -> None:
    text = DOC.read_text()
    assert (
        sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.name != DOC.name and p.name not in text)
        == []
    )
    assert "SHAPE.md" not in text  # never in this repository

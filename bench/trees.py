"""Another commit's daemon beside this tree's, so a ratio never compares two days."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).parents[1]


@contextmanager
def other_tree(rev: str, folder: Path) -> Iterator[tuple[Path, Path]]:
    """A worktree of ``rev`` and a virtual environment with it installed: (its python, the tree)."""
    tree = folder / "tree"
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(tree), rev], cwd=ROOT, check=True)  # noqa: S607
    try:
        venv = folder / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pinned = tree / "constraints.txt"  # older commits had none: this tree's pins the same libraries
        pip = [
            str(venv / "bin" / "pip"),
            "install",
            "-q",
            "-c",
            str(pinned if pinned.exists() else ROOT / pinned.name),
        ]
        # every connector the development venv has (older commits lack some): the openapi one brings
        # jsonschema-rs, which validation uses when installed, so leaving it out skews the comparison
        names = ("http", "aws", "os", "openapi")
        connectors = [
            str(tree / "connectors" / name) for name in names if (tree / "connectors" / name).exists()
        ]
        # gunicorn's gevent worker imports packaging, which older commits did not list
        subprocess.run([*pip, str(tree), *connectors, "packaging"], check=True)
        yield venv / "bin" / "python", tree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)  # noqa: S607

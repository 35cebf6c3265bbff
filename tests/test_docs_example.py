"""The guide's complete example is a real package: built from the guide's own text, its tests pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
GUIDE = (ROOT / "docs" / "writing-a-connector.md").read_text()
BLOCK = re.compile(r"```(?:python|toml)\n# (?P<path>[\w./-]+)\n(?P<text>.*?)```", re.DOTALL)


def example_files() -> dict[str, str]:
    section = GUIDE.split("## A complete example, end to end", 1)[1].split("\n## ", 1)[0]
    return {match["path"]: match["text"] for match in BLOCK.finditer(section)}


def test_the_complete_example_builds_and_passes_its_own_tests(tmp_path: Path) -> None:
    files = example_files()
    assert set(files) == {"pyproject.toml", "connector_proxy_parcels/__init__.py", "tests/test_parcels.py"}
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    project = tomllib.loads(files["pyproject.toml"])["project"]
    info = tmp_path / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()  # what pip install would leave: the metadata and the entry point the daemon looks for
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    points = project["entry-points"]["connector_proxy.connectors"]
    (info / "entry_points.txt").write_text(
        "[connector_proxy.connectors]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
    )

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout

"""``connector-proxy new``: the package it writes installs with ``pip install -e``, passes its own
tests and ``check``, and the daemon lists its command, in an environment of its own."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from tests.support import CLI


def environment(folder: Path) -> Path:
    """A virtual environment that sees this one's packages (pytest, connector-proxy); its python."""
    venv.EnvBuilder(with_pip=False).create(folder)
    site = next(folder.glob("lib/python3*/site-packages"))
    (site / "parent.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    return folder / "bin" / "python"


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_a_new_connector_installs_passes_its_tests_and_check_and_is_listed(tmp_path: Path) -> None:
    made = run(*CLI, "new", "weather", cwd=tmp_path)
    folder = tmp_path / "connector-proxy-weather"
    python = environment(tmp_path / "venv")
    pip = (sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "-e", folder)
    installed = run(*pip, cwd=tmp_path)
    tested = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=folder)
    (tmp_path / "plugins.toml").write_text("[discovery]\nenable_unlisted = false\n[connectors.weather]\n")
    checked = run(python, "-m", "connector_proxy", "check", cwd=tmp_path)
    listed = run(python, "-m", "connector_proxy", "list", cwd=tmp_path)
    again = run(*CLI, "new", "weather", cwd=tmp_path)

    assert made.returncode == 0, made.stderr
    assert "wrote connector-proxy-weather/connector_proxy_weather/__init__.py" in made.stdout
    assert installed.returncode == 0, installed.stderr
    assert tested.returncode == 0 and "3 passed" in tested.stdout, tested.stdout + tested.stderr
    assert checked.returncode == 0, checked.stderr
    assert "1 connector(s) ready (weather), 0 problem(s)" in checked.stdout
    assert "weather/Greet" in listed.stdout and 'weather: {"greeting": "Hello"}' in listed.stdout
    assert again.returncode == 2 and "exists already: nothing was written" in again.stderr

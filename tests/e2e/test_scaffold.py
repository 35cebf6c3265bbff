"""``connector-proxy new``: the package it writes installs with ``pip install -e``, passes its own
tests and ``check``, and the daemon lists its command, in an environment of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import time
import venv
from pathlib import Path

import requests

from connector_proxy.testing import RunningDaemon
from tests.support import CLI, SITE


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
    # made inside a project whose own pytest options would break its tests (as a clone's -n would
    # without pytest-xdist): the package's own settings apply, run from inside it or from the project
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "--no-such-option"\n')
    tested = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=folder)
    from_project = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", folder.name, cwd=tmp_path)
    (tmp_path / "plugins.toml").write_text("[discovery]\nenable_unlisted = false\n[connectors.weather]\n")
    checked = run(python, "-m", "connector_proxy", "check", cwd=tmp_path)
    listed = run(python, "-m", "connector_proxy", "list", cwd=tmp_path)
    again = run(*CLI, "new", "weather", cwd=tmp_path)

    assert made.returncode == 0, made.stderr
    assert "wrote connector-proxy-weather/connector_proxy_weather/__init__.py" in made.stdout
    assert installed.returncode == 0, installed.stderr
    assert tested.returncode == 0 and "3 passed" in tested.stdout, tested.stdout + tested.stderr
    assert from_project.returncode == 0 and "3 passed" in from_project.stdout, from_project.stderr
    assert checked.returncode == 0, checked.stderr
    assert "1 connector(s) ready (weather), 0 problem(s)" in checked.stdout
    assert "weather/Greet" in listed.stdout and 'weather: {"greeting": "Hello"}' in listed.stdout
    assert again.returncode == 2 and "exists already: nothing was written" in again.stderr


def test_a_connector_installed_with_pip_install_e_after_start_is_served_after_sighup(tmp_path: Path) -> None:
    run(*CLI, "new", "greet", cwd=tmp_path)
    python = environment(tmp_path / "venv")
    config = tmp_path / "plugins.toml"
    config.write_text(
        '[discovery]\nenable_unlisted = false\n[jobs]\nsqlite_path = "jobs.sqlite3"\n[connectors.greet]\n'
    )
    before = run(python, "-m", "connector_proxy", "check", cwd=tmp_path)
    environ = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}

    with RunningDaemon(config, environ, python=python) as daemon:
        refused = requests.post(f"{daemon.url}/v1/do/greet/Greet", json={"name": "Ada"}, timeout=10)
        pip = (sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "-e")
        installed = run(*pip, tmp_path / "connector-proxy-greet", cwd=tmp_path)
        _reloaded(daemon)
        answer = requests.post(f"{daemon.url}/v1/do/greet/Greet", json={"name": "Ada"}, timeout=10)
        ready = requests.get(f"{daemon.url}/v1/readiness", timeout=10)
    after = run(python, "-m", "connector_proxy", "check", cwd=tmp_path)

    assert before.returncode == 1 and "[connectors.greet]: not_installed" in before.stderr, before.stderr
    assert refused.status_code == 503 and refused.json()["error"]["error_code"] == "ConnectorUnavailable"
    assert installed.returncode == 0, installed.stderr
    assert answer.status_code == 200 and answer.json()["error"] is None, answer.text
    assert ready.status_code == 200, ready.text
    assert after.returncode == 0, after.stderr


def _reloaded(daemon: RunningDaemon, seconds: float = 60) -> None:
    """SIGHUP, then wait until every worker that served the old app is gone: whatever answers next
    is a new one."""
    old = set(daemon.worker_pids())
    os.kill(daemon.process.pid, signal.SIGHUP)
    deadline = time.monotonic() + seconds
    while old & set(daemon.worker_pids()):
        assert time.monotonic() < deadline, "the old workers were not replaced"
        time.sleep(0.1)


def test_names_of_built_in_and_installed_connectors_are_refused_with_the_reason(tmp_path: Path) -> None:
    environ = {**os.environ, "PYTHONPATH": str(SITE)}  # the sample connectors are installed there
    built_in = subprocess.run(
        [*CLI, "new", "http"], cwd=tmp_path, env=environ, capture_output=True, text=True
    )
    installed = subprocess.run(
        [*CLI, "new", "sample"], cwd=tmp_path, env=environ, capture_output=True, text=True
    )

    assert built_in.returncode == 2 and "'http' is a built-in connector's name" in built_in.stderr
    assert "would replace it; choose another name" in built_in.stderr
    assert installed.returncode == 2 and "installed connector (sample-connectors 0.1.0)" in installed.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written

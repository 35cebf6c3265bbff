"""What an operator relies on around the calls: readiness, ``check``, the configuration in effect,
through the real daemon under gunicorn and the CLI as installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.support import CLI, SITE, TEST_CONFIG, TEST_ENV, Daemon

ONLY_LISTED = "[discovery]\nenable_unlisted = false\n[connectors.sample]\n[connectors.http]\n"


def readiness(tmp_path: Path, config: str) -> requests.Response:
    path = tmp_path / "plugins.toml"
    path.write_text(config)
    with Daemon(path, TEST_ENV, tmp_path / "daemon.log") as daemon:
        return requests.get(f"{daemon.url}/v1/readiness", timeout=5)


def test_ready_when_every_enabled_connector_is(tmp_path: Path) -> None:
    answer = readiness(tmp_path, ONLY_LISTED + TEST_CONFIG)

    assert answer.status_code == 200
    assert answer.json() == {"ready": True, "connectors": ["http", "sample"], "degraded": []}


def test_a_broken_connector_makes_it_not_ready_and_is_named(tmp_path: Path) -> None:
    """The tests' site also installs connectors broken on purpose: enabling them all flips readiness."""
    answer = readiness(tmp_path, TEST_CONFIG)

    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["error_code"] == "NotReady"
    states = {p["component"]: p["state"] for p in error["details"]}
    assert states["connector broken"] == "import_error"
    assert states["connector misnamed"] == "invalid"
    assert "connector sample" not in states and "jobs" not in states


# a worker that answers the start-up probe, then never starts again (its marker file is left behind)
ONCE = """
import json, os, sys
if os.path.exists(sys.argv[1]):
    sys.exit(1)
open(sys.argv[1], "w").close()
print(json.dumps({"type": "hello", "protocol": 1, "connector": {"name": "once", "commands": []}}), flush=True)
sys.stdin.readline()
print(json.dumps({"type": "ready", "pid": os.getpid()}), flush=True)
sys.stdin.read()
"""


def test_isolated_connectors_without_workers_and_an_unreachable_store_are_named(tmp_path: Path) -> None:
    (tmp_path / "once.py").write_text(ONCE)
    config = (
        ONLY_LISTED
        + TEST_CONFIG
        + '[connectors.gone]\nprogram = ["false"]\n'  # exits at once: never even described
        + f'[connectors.once]\nprogram = ["{sys.executable}", "once.py", "{tmp_path / "ran"}"]\n'
        + '[jobs]\nbackend = "celery"\nredis_url = "redis://127.0.0.1:9/0"\n'  # nothing listens on port 9
    )
    answer = readiness(tmp_path, config)

    assert answer.status_code == 503
    states = {p["component"]: p["state"] for p in answer.json()["error"]["details"]}
    assert states == {
        "connector gone": "worker_error",
        "connector once": "workers_down",
        "jobs": "unreachable",
    }


def check(
    tmp_path: Path, config: str, environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "plugins.toml"
    path.write_text(config)
    env = {**os.environ, **TEST_ENV, **(environ or {}), "PYTHONPATH": str(SITE)}
    return subprocess.run(
        [*CLI, "check", "--config", str(path)], env=env, capture_output=True, text=True, timeout=60
    )


def test_check_passes_a_good_configuration(tmp_path: Path) -> None:
    checked = check(tmp_path, ONLY_LISTED + TEST_CONFIG)

    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == ""
    assert "2 connector(s) ready (http, sample), 0 problem(s)" in checked.stdout


def test_check_names_file_table_and_reason_of_each_problem(tmp_path: Path) -> None:
    config = ONLY_LISTED + '[connectors.sample.config]\ntoken = "ab"\n'  # minLength 4
    config += '[events]\nhost_url = "http://127.0.0.1:7000/v1.0"\n'
    config += '[subscriptions.ghost]\ntrigger = "nowhere/webhook"\nmessage = "boo"\n'
    config += "[connectors.broken]\n"  # installed, but it would not import
    config += '[connectors.sample.typeahead]\nflavours = "ices"\n'  # a category it does not have
    checked = check(tmp_path, config, {"CONNECTOR_PROXY_SERVER_WORKRS": "3"})

    assert checked.returncode == 1
    too_short = "config_error: token: must be at least 4 characters long"
    assert f"{tmp_path / 'plugins.toml'}: [connectors.sample]: {too_short}" in checked.stderr
    assert "environment: CONNECTOR_PROXY_SERVER_WORKRS is not a setting" in checked.stderr
    missing = "import_error: ImportError: No module named 'an_sdk_that_is_not_installed'"
    assert f"{tmp_path / 'plugins.toml'}: [connectors.broken]: {missing}" in checked.stderr
    no_such = "[connectors.sample.typeahead] flavours: the connector offers no such category"
    assert f"{tmp_path / 'plugins.toml'}: {no_such}" in checked.stderr
    ghost = "[subscriptions.ghost]: no ready connector offers trigger 'nowhere/webhook'"
    assert f"{tmp_path / 'plugins.toml'}: {ghost}" in checked.stderr
    assert "Traceback" not in checked.stderr and '"ab"' not in checked.stderr


def test_check_refuses_an_unusable_file_naming_the_key(tmp_path: Path) -> None:
    checked = check(tmp_path, "[server]\nworkrs = 3\n")

    assert checked.returncode == 2
    assert (
        f"configuration error in {tmp_path / 'plugins.toml'}: unknown key(s) in [server]: workrs"
        in checked.stderr
    )


def test_connectors_show_the_configuration_in_effect(tmp_path: Path) -> None:
    """Schema defaults filled in, secrets masked, exactly what the commands are given."""
    path = tmp_path / "plugins.toml"
    path.write_text(ONLY_LISTED + TEST_CONFIG)
    with Daemon(path, TEST_ENV, tmp_path / "daemon.log") as daemon:
        shown = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()}

    assert shown["sample"]["config"] == {"token": "********", "greeting": "Hello"}
    http = shown["http"]["config"]
    assert http["destinations"] == {"allow_loopback": True}
    defaults = {
        k: v["default"] for k, v in shown["http"]["config_schema"]["properties"].items() if "default" in v
    }
    assert defaults and all(http[key] == value for key, value in defaults.items())

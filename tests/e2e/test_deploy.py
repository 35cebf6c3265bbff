"""The deployment recipes in deploy/: they name only settings that exist, run the daemon as the README
says, and, where a Docker engine answers, the image builds and serves /liveness."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from fnmatch import fnmatch
from pathlib import Path

import pytest
import requests

from connector_proxy.config import unknown_variables
from connector_proxy.sdk.testing import free_port

DEPLOY = Path(__file__).parents[2] / "deploy"
RECIPES = ("Dockerfile", "docker-compose.yml", "connector-proxy.service")


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_setting_a_recipe_names_exists(recipe: str) -> None:
    text = (DEPLOY / recipe).read_text()
    named = {name: "x" for name in re.findall(r"\bCONNECTOR_PROXY_[A-Z_]+", text)}

    assert named
    assert unknown_variables(named) == []


def test_the_recipes_serve_the_daemon_and_probe_liveness() -> None:
    assert 'CMD ["connector-proxy", "serve", "--bind", "0.0.0.0:7004"]' in (DEPLOY / "Dockerfile").read_text()
    assert "/liveness" in (DEPLOY / "Dockerfile").read_text()
    unit = (DEPLOY / "connector-proxy.service").read_text()
    assert "ExecStart=/opt/connector-proxy/.venv/bin/connector-proxy serve" in unit
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit


def _sent(path: str, patterns: list[str]) -> bool:
    """Does docker send ``path`` in the build context? The last pattern matching it or a parent decides."""
    parts = path.split("/")
    sent = True
    for pattern in patterns:
        keep = pattern.startswith("!")
        bare = pattern.removeprefix("!")
        prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        nested = bare.removeprefix("**/")
        if any(fnmatch(prefix, bare) for prefix in prefixes) or (
            bare.startswith("**/") and any(fnmatch(part, nested) for part in parts)
        ):
            sent = keep
    return sent


def test_the_build_context_holds_what_the_image_copies_and_no_venv() -> None:
    ignore = (DEPLOY.parent / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    copied = [
        source
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
        for source in [word for word in line.split()[1:] if not word.startswith("--")][:-1]
    ]

    assert copied and all(_sent(source.removeprefix("/"), patterns) for source in copied), copied
    assert _sent("connector_proxy/web/app.py", patterns) and _sent("connectors/http/pyproject.toml", patterns)
    for kept_out in (
        ".venv/bin/python",
        "connectors/http/.venv/x",
        "connector_proxy/__pycache__/a.pyc",
        "connector-proxy-jobs.sqlite3",
        ".git/HEAD",
        "connectors/http/tests/test_x.py",
    ):
        assert not _sent(kept_out, patterns), kept_out


def test_what_the_image_copies_and_the_compose_file_mounts_exists() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    sources = re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", dockerfile, re.M)
    copied = [word for line in sources for word in line.split()]
    mounted = re.findall(r"^\s+- (\.{1,2}/[^:]+):", (DEPLOY / "docker-compose.yml").read_text(), re.M)

    assert "constraints.txt" in copied and mounted
    assert [name for name in copied if not (DEPLOY.parent / name).exists()] == []
    assert [path for path in mounted if not (DEPLOY / path).exists()] == []  # relative to the compose file


def test_the_image_installs_the_tested_versions() -> None:
    install = re.search(r"^RUN pip install (.+)$", (DEPLOY / "Dockerfile").read_text(), re.M)

    assert install is not None and "-c /src/constraints.txt" in install.group(1)


def _engine() -> str | None:
    """Why no image can be built here, or None when a Docker engine answers."""
    if shutil.which("docker") is None:
        return "no docker client"
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    return None if probe.returncode == 0 else "the docker client finds no engine (docker info fails)"


def test_the_image_builds_and_answers_liveness() -> None:
    missing = _engine()
    if missing:
        pytest.skip(f"cannot build the image: {missing}")
    tag = f"connector-proxy-test:{uuid.uuid4().hex[:8]}"
    root = DEPLOY.parent
    subprocess.run(
        ["docker", "build", "-q", "-f", str(DEPLOY / "Dockerfile"), "-t", tag, str(root)], check=True
    )
    port = free_port()
    container = subprocess.run(
        ["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:7004", tag], capture_output=True, text=True
    ).stdout.strip()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/liveness", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the container never answered"
                time.sleep(0.5)
        assert answer.json() == {"ok": True}
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)

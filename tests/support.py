"""Helpers the tests share: configurations, apps, and servers on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask.testing import FlaskClient

from connector_proxy.config import Settings, load_settings
from connector_proxy.sdk.testing import CallbackReceiver, call, completed, succeeded, wait_until
from connector_proxy.testing import RunningDaemon, app_client

# the connector author's kit, shared with the suite's tests through this module
__all__ = ["CallbackReceiver", "call", "completed", "succeeded", "wait_until"]
ROOT = Path(__file__).parents[1]
SITE = Path(__file__).parent / "fixtures" / "site"
SPIFF_SITE = Path(__file__).parent / "fixtures" / "spiff_site"  # SpiffWorkflow-shaped packages
if str(SITE) not in sys.path:
    sys.path.insert(0, str(SITE))  # makes the sample connectors' entry points visible

# loopback is refused by default; the tests' upstreams live there
TEST_CONFIG = """
[connectors.sample.config]
token = "env:SAMPLE_TOKEN"
greeting = "Hello"

[connectors.http.config.destinations]
allow_loopback = true
"""
TEST_ENV = {"SAMPLE_TOKEN": "s3cr3t-token-value"}


def settings_from(
    tmp_path: Path, toml: str = TEST_CONFIG, environ: Mapping[str, str] | None = None
) -> Settings:
    path = tmp_path / "plugins.toml"
    path.write_text(toml)
    return load_settings(path, dict(TEST_ENV if environ is None else environ))


def client_from(
    tmp_path: Path, toml: str = TEST_CONFIG, environ: Mapping[str, str] | None = None
) -> FlaskClient:
    """connector_proxy.testing's app_client with the tests' configuration and environment by default."""
    return app_client(tmp_path, toml, TEST_ENV if environ is None else environ)


def polled_again(
    url: str, subscription: str, times: int = 2, headers: Mapping[str, str] | None = None, seconds: float = 20
) -> None:
    """Until the daemon at ``url`` has polled ``subscription`` ``times`` more and no event waits to be
    sent: the window in which a new or a repeated event would have reached the host, seen in /metrics
    rather than slept through."""

    def scraped() -> tuple[float, float]:
        text = requests.get(f"{url}/metrics", headers=dict(headers or {}), timeout=5).text
        polls = pending = 0.0
        for row in text.splitlines():
            name, _, value = row.rpartition(" ")
            if name.startswith("connector_proxy_polls_total{") and f'subscription="{subscription}"' in name:
                polls += float(value)  # every result: a lost lease or a failure is a poll that ran too
            elif name == 'connector_proxy_events{state="pending"}':
                pending += float(value)
        return polls, pending

    before, _ = scraped()
    wait_until(
        lambda: (now := scraped())[0] >= before + times and now[1] == 0,
        seconds,
        f"{times} more polls of {subscription}, nothing pending",
    )


def error_code(status: int, answer: Any) -> str:
    """A refusal's declared code: in the envelope, or beside ``error`` in a 401 (the host's protocol)."""
    return str(answer["error_code"] if status == 401 else answer["error"]["error_code"])


class Daemon(RunningDaemon):
    """The real daemon with the sample connectors visible, its output kept in ``log``."""

    def __init__(
        self,
        config: Path,
        environ: Mapping[str, str],
        log: Path,
        site: tuple[Path, ...] = (),
        samples: bool = True,  # False: the sample connectors are not in the daemon's environment
    ) -> None:
        self.log = log
        super().__init__(config, environ, site=(SITE, *site) if samples else site, output=log.open("wb"))

    def wait_ready(self, seconds: float | None = None, poll: float = 0.05) -> float:
        try:
            return super().wait_ready(seconds, poll)
        except RuntimeError as error:
            raise RuntimeError(f"{error}:\n{self.log.read_text()}") from None


CLI = [sys.executable, "-m", "connector_proxy"]


def wheel(folder: Path, name: str, version: str, modules: dict[str, str], entry_points: str = "") -> Path:
    """A pure-Python wheel, built by hand: a zip with the module and its dist-info."""
    info = f"{name}-{version}.dist-info"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    files = {
        **modules,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    if entry_points:
        files[f"{info}/entry_points.txt"] = entry_points
    files[f"{info}/RECORD"] = "".join(f"{f},,\n" for f in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


def environment(folder: Path, wheels: list[Path]) -> Path:
    """A virtual environment with these wheels installed by pip, offline; its python."""
    venv.EnvBuilder(with_pip=False).create(folder)
    site = next(folder.glob("lib/python3*/site-packages"))
    (site / "connector_proxy_sdk.pth").write_text(f"{ROOT}\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site)]
        + [str(w) for w in wheels],
        check=True,
    )
    return folder / "bin" / "python"


def modules_of(root: Path, *packages: str) -> dict[str, str]:
    """A package's (or a module's) source files under ``root``, as :func:`wheel` takes them."""
    found = {}
    for name in packages:
        module = root / f"{name}.py"
        paths = [module] if module.exists() else sorted((root / name).rglob("*.py"))
        found.update({str(path.relative_to(root)): path.read_text() for path in paths})
    return found


def copy_installed(site: Path, names: Iterable[str]) -> None:
    """Distributions installed here, copied into another environment's site-packages with their
    metadata (the same wheels pip would install there; no network)."""
    for name in names:
        distribution = metadata.distribution(name)
        for file in distribution.files or ():
            source = Path(str(distribution.locate_file(file)))
            if file.parts[0] == ".." or not source.is_file():  # scripts live outside site-packages
                continue
            (site / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, site / file)


def redis_or_skip(url: str) -> redis.Redis:
    """A client of the tests' Redis; the test is skipped when none answers, except in CI
    (``$CI`` set), where it must. Tests keep to key prefixes of their own."""
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the Redis at {url}, and none answers: {error}")
        pytest.skip(f"no Redis answers at {url} (set CONNECTOR_PROXY_TEST_REDIS_URL): {error}")
    return client


@contextmanager
def small_tmpfs(folder: Path, megabytes: int) -> Iterator[Path]:
    """A tmpfs of ``megabytes`` mounted at ``folder`` for a test to fill (mounting needs root: skipped
    with the reason otherwise, except in CI), unmounted however the test ends."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            raise AssertionError(f"CI runs this test, but a tmpfs cannot be mounted: {mounted.stderr}")
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill ``folder``'s disk with one file, then give ``leave`` bytes back; the file."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:  # unbuffered: nothing left to flush (and fail) at close
        try:
            while True:
                out.write(b"\0" * 65536)
        except OSError:
            pass  # full
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler

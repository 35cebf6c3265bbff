"""Isolated workers leave nothing behind: what a call starts, even in a session of its own, dies
with the call; a worker lost to a crash is replaced at once; crashed workers' cgroups are removed.

Each worker runs under the SDK's shepherd (the os connector's), a subreaper that dies with the
daemon's worker process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from connector_proxy.isolation.cgroups import memory_cgroups
from connector_proxy.testing import start_seconds
from tests.faults.conftest import FAULT_SITE, replaced
from tests.support import Daemon

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the shepherd is a Linux subreaper")

CONFIG = f"""
[server]
workers = 1
[limits]
command_timeout = 3
[discovery]
import_timeout = 1
[connectors.faulty]
python = "{sys.executable}"
workers = 1
memory_bytes = 268435456
"""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    with started(tmp_path, CONFIG) as running:
        yield running


def started(folder: Path, config: str) -> Daemon:
    (folder / "plugins.toml").write_text(config)
    return Daemon(folder / "plugins.toml", {}, folder / "daemon.log", site=(FAULT_SITE,), samples=False)


@pytest.fixture
def marker() -> Iterator[str]:
    """A mark for what a test's call starts; whatever holds it when the test ends is killed (the test
    failing is what the daemon left behind: the run must not leave it too)."""
    mark = f"leftover-{uuid.uuid4().hex}"
    yield mark
    for pid in running_with(mark):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def do(daemon: Daemon, command: str, **parameters: Any) -> dict[str, Any]:
    answer: dict[str, Any] = requests.post(
        f"{daemon.url}/v1/do/faulty/{command}", json=parameters, timeout=start_seconds()
    ).json()
    return answer


def running_with(marker: str) -> list[int]:
    """Processes alive (not zombies) whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (
                marker.encode() in (entry / "cmdline").read_bytes()
                and b") Z" not in (entry / "stat").read_bytes()
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def gone(marker: str) -> bool:
    """Whether every process holding ``marker`` has ended, waiting as long as a start may take."""
    deadline = time.monotonic() + start_seconds()
    while running_with(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def ended(pid: int) -> bool:
    """Whether the process has ended (and been reaped, or is a zombie), waiting as :func:`gone` does."""
    deadline = time.monotonic() + start_seconds()
    while time.monotonic() < deadline:
        try:
            if b") Z" in Path(f"/proc/{pid}/stat").read_bytes():
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_what_a_call_starts_in_a_session_of_its_own_ends_with_the_call(daemon: Daemon, marker: str) -> None:

    answer = do(daemon, "Orphan", marker=marker)

    assert answer["error"] is None, answer
    assert gone(marker)
    assert (
        do(daemon, "Hello")["command_response"]["body"]["pid"] == answer["command_response"]["body"]["worker"]
    )


def test_what_a_call_started_ends_when_its_worker_is_killed_at_the_deadline(
    daemon: Daemon, marker: str
) -> None:

    answer = do(daemon, "Orphan", marker=marker, hang=True)

    assert answer["error"]["error_code"] == "WorkerTimedOut", answer
    assert gone(marker)


def test_a_daemon_worker_killed_takes_its_isolated_workers_and_their_children_along(
    tmp_path: Path, marker: str
) -> None:
    patient = CONFIG.replace("command_timeout = 3", "command_timeout = 600")  # killed first, not timed out
    with started(tmp_path, patient) as daemon, ThreadPoolExecutor(1) as caller:
        before = daemon.worker_pids()
        isolated = do(daemon, "Hello")["command_response"]["body"]["pid"]
        hanging = caller.submit(do, daemon, "Orphan", marker=marker, hang=True)  # held open: not left
        deadline = time.monotonic() + start_seconds()  # on a busy machine the call may not be there yet
        while not running_with(marker):
            assert time.monotonic() < deadline, "the call never started its child"
            time.sleep(0.05)

        os.kill(before[0], signal.SIGKILL)
        replaced(daemon, before)

        with pytest.raises(requests.ConnectionError):
            hanging.result()
        assert gone(marker)
        assert ended(isolated)


def test_a_worker_lost_in_a_call_is_replaced_at_once_and_leaves_no_cgroup(daemon: Daemon) -> None:
    for _ in range(3):
        assert do(daemon, "Exit", status=1)["error"]["error_code"] == "WorkerCrashed"

    answers = [do(daemon, "Hello") for _ in range(5)]  # no WorkerUnavailable while one starts

    assert [answer["error"] for answer in answers] == [None] * 5
    found = memory_cgroups()
    if found is not None:  # the daemon could give cgroups: only the live worker's is left
        ours = list(found.parent.glob(f"connector-proxy-{daemon.worker_pids()[0]}-faulty-*"))
        assert len(ours) == 1, ours

"""What the fault tests share: connectors that misbehave, and the daemon's workers watched."""

from __future__ import annotations

import time
from pathlib import Path

from connector_proxy.testing import start_seconds
from tests.support import Daemon

FAULT_SITE = Path(__file__).parents[1] / "fixtures" / "fault_site"


def replaced(daemon: Daemon, gone: list[int]) -> list[int]:
    """The daemon's workers once none of ``gone`` is among them and one is up again."""
    deadline = time.monotonic() + start_seconds()
    while time.monotonic() < deadline:
        assert daemon.process.poll() is None, f"the daemon stopped:\n{daemon.log.read_text()}"
        workers = daemon.worker_pids()
        if workers and not set(workers) & set(gone):
            return workers
        time.sleep(0.05)
    raise AssertionError(f"no worker replaced {gone}:\n{daemon.log.read_text()}")

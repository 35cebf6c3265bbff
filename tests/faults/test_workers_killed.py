"""Workers that die mid-job, through the real daemon under gunicorn (the embedded SQLite backend).

``kill -9`` of every worker: the master queues their running jobs again at once (``child_exit``), the
new workers run them, every job is delivered once. A worker frozen (SIGSTOP) longer than
``jobs.lease_seconds``: another worker takes its jobs when their leases run out; thawed, the frozen
runner's writes are refused (its lease was lost), so no job is delivered twice.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector_proxy.sdk.testing import CallbackReceiver
from tests.faults.support import delivered_once_each, recovered, running, send, wait_until
from tests.support import TEST_ENV, Daemon

LEASE = 4


def _config(folder: Path) -> Path:
    config = folder / "plugins.toml"
    config.write_text(
        "[server]\nworkers = 2\ngraceful_timeout = 10\n"
        "[discovery]\nenable_unlisted = false\n[connectors.sample]\nenabled = true\n"
        '[connectors.sample.config]\ntoken = "env:SAMPLE_TOKEN"\n'
        f'[jobs]\nsqlite_path = "{folder / "jobs.sqlite3"}"\nthreads = 3\nlease_seconds = {LEASE}\n'
        'callback_allow = ["127.0.0.1"]\n'
    )
    return config


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    running_receiver = CallbackReceiver()
    yield running_receiver
    running_receiver.close()


def test_jobs_of_workers_killed_mid_job_run_again_at_once_and_each_is_delivered_once(
    tmp_path: Path, receiver: CallbackReceiver
) -> None:
    with Daemon(_config(tmp_path), TEST_ENV, tmp_path / "daemon.log") as daemon:
        send(daemon, receiver, 24, seconds=2)
        busy = wait_until(lambda: running(daemon) >= 4 and running(daemon), 30, "jobs running")
        killed_at = time.monotonic()
        for pid in daemon.worker_pids():
            os.kill(pid, signal.SIGKILL)
        # 24 jobs of 2 s on 6 threads: ~8 s of work, plus the workers' restart; far inside the lease
        delivered_once_each(receiver, 24, seconds=60)
        took = time.monotonic() - killed_at
        assert recovered(daemon, "worker_exited") >= busy
        assert recovered(daemon, "lease_expired") == 0  # found at once, not when the leases ran out
        warned = "jobs.lease_seconds (4 s) is not longer than the worker timeout (60 s)"
        assert warned in daemon.log.read_text()  # a CPU-bound command could outlast this lease

    assert took < 60


def test_a_frozen_workers_jobs_run_elsewhere_and_its_late_results_are_dropped(
    tmp_path: Path, receiver: CallbackReceiver
) -> None:
    with Daemon(_config(tmp_path), TEST_ENV, tmp_path / "daemon.log") as daemon:
        frozen, other = daemon.worker_pids()
        os.kill(other, signal.SIGSTOP)  # every job goes to the first worker
        try:
            send(daemon, receiver, 3, seconds=3)
            wait_until(lambda: running(daemon) == 3, 30, "three jobs running")
            os.kill(frozen, signal.SIGSTOP)
            os.kill(other, signal.SIGCONT)
            # the other worker finds them once their leases run out, runs and delivers them
            delivered_once_each(receiver, 3, seconds=LEASE + 30)
            assert recovered(daemon, "lease_expired") == 3
        finally:
            os.kill(frozen, signal.SIGCONT)  # its runners wake, finish, and may not write
        # their 3 s sleeps end, and each of the three late runs is dropped, not written
        dropped = "this run's outcome is dropped"
        wait_until(lambda: daemon.log.read_text().count(dropped) >= 3, 30, "the three late runs dropped")
        delivered_once_each(receiver, 3, seconds=1)

    assert "its lease passed to another process" in (tmp_path / "daemon.log").read_text()

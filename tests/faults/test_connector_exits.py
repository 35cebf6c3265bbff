"""No connector can stop the daemon: whatever ends a worker after it booted, the master serves on.

gunicorn halts when a worker exits with status 3 or 4 (its "failed to boot"); a command calling
``os._exit(3)`` once took the whole daemon down. A hanging import leaves its connector out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connector_proxy.sdk.testing import CallbackReceiver
from connector_proxy.testing import start_seconds
from tests.faults.conftest import FAULT_SITE, replaced
from tests.faults.support import ASYNC
from tests.support import Daemon

CONFIG = """
[server]
workers = 1
graceful_timeout = 5
[discovery]
import_timeout = 2
[jobs]
callback_allow = ["127.0.0.1"]
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    folder = tmp_path_factory.mktemp("exits")
    (folder / "plugins.toml").write_text(CONFIG)
    with Daemon(
        folder / "plugins.toml", {}, folder / "daemon.log", site=(FAULT_SITE,), samples=False
    ) as running:
        yield running


def do(daemon: Daemon, command: str, **parameters: Any) -> requests.Response:
    return requests.post(f"{daemon.url}/v1/do/faulty/{command}", json=parameters, timeout=start_seconds())


@pytest.mark.parametrize(
    ("command", "parameters", "logged"),
    [
        ("ExitFromThread", {"status": 3}, "status 3"),  # gunicorn's WORKER_BOOT_ERROR
        ("ExitFromThread", {"status": 4}, "status 4"),  # gunicorn's APP_LOAD_ERROR
        ("ExitFromThread", {"status": 1}, "status 1"),
        ("Segfault", {}, "signal SIGSEGV"),
    ],
)
def test_a_worker_ended_by_its_connector_is_replaced_and_the_daemon_serves_on(
    daemon: Daemon, command: str, parameters: dict[str, Any], logged: str
) -> None:
    before = daemon.worker_pids()

    with pytest.raises(requests.ConnectionError):  # the process that held the call is gone
        do(daemon, command, **parameters)
    workers = replaced(daemon, before)

    answer = do(daemon, "Hello")
    assert answer.status_code == 200 and answer.json()["command_response"]["body"]["pid"] in workers
    assert f"worker {before[0]} crashed ({logged})" in daemon.log.read_text()


@pytest.mark.parametrize("status", [3, 4, 1, 0])
def test_a_command_calling_os_exit_is_a_crashed_command_and_its_worker_serves_on(
    daemon: Daemon, status: int
) -> None:
    before = daemon.worker_pids()

    answer = do(daemon, "Exit", status=status)

    assert answer.status_code == 500 and answer.json()["error"]["error_code"] == "CommandCrashed"
    assert "ExitCalled" in answer.json()["error"]["message"]
    assert daemon.worker_pids() == before
    assert do(daemon, "Hello").json()["command_response"]["body"]["pid"] in before


def test_a_job_that_ends_each_worker_taking_it_with_status_3_never_stops_the_daemon(daemon: Daemon) -> None:
    """The job is queued again at once and taken by the replacement as it boots (its services start
    in post_worker_init): that worker's exit 3 is a crash too, until the job is given up."""
    receiver = CallbackReceiver()
    try:
        payload = {"status": 3, "spiff__task_id": "t", "spiff__callback_url": f"{receiver.url}/callback/t"}
        accepted = requests.post(
            f"{daemon.url}/v1/do/faulty/ExitFromThread", json=payload, headers=ASYNC, timeout=start_seconds()
        )
        assert accepted.status_code == 202, accepted.text
        receiver.wait_for(1, seconds=start_seconds())
        [(_, envelope)] = receiver.received
    finally:
        receiver.close()

    assert envelope["error"]["error_code"] == "JobAbandoned"
    assert requests.get(f"{daemon.url}/liveness", timeout=10).status_code == 200
    assert "Worker failed to boot" not in daemon.log.read_text()


@pytest.mark.parametrize("how", ["SystemExit", "KeyboardInterrupt"])
def test_a_command_raising_what_stops_a_process_is_a_crashed_command(daemon: Daemon, how: str) -> None:
    before = daemon.worker_pids()

    answer = do(daemon, "Leave", how=how)

    assert answer.status_code == 500 and answer.json()["error"]["error_code"] == "CommandCrashed"
    assert how in answer.json()["error"]["message"]
    assert daemon.worker_pids() == before  # the same worker answers on
    assert do(daemon, "Hello").json()["command_response"]["body"]["pid"] in before


def test_a_connector_whose_import_hangs_is_left_out_with_its_reason(daemon: Daemon) -> None:
    connectors = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=10).json()}

    assert connectors["stuck"]["state"] == "import_error"
    assert "did not import within 2 s (discovery.import_timeout)" in connectors["stuck"]["detail"]
    assert connectors["faulty"]["state"] == "ready"


def test_a_connector_whose_import_calls_os_exit_is_left_out_with_its_reason(daemon: Daemon) -> None:
    connectors = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=10).json()}

    assert connectors["quitting"]["state"] == "import_error"
    assert "ExitCalled" in connectors["quitting"]["detail"]

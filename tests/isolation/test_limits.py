"""Isolated workers with limits, through the real daemon: a worker over its memory or CPU limit costs
the call in flight a declared code and is replaced while the connector keeps serving; a worker that
answered max_calls is replaced between calls."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support import TEST_CONFIG, TEST_ENV, Daemon

LIMITED = f"""
[server]
workers = 1  # one pool: /v1/connectors shows the worker process that answered
[connectors.sample]
python = "{sys.executable}"
workers = 1
memory_bytes = 536870912
cpu_seconds = 1
max_calls = 6
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    folder = tmp_path_factory.mktemp("limits")
    config = folder / "plugins.toml"
    config.write_text(LIMITED + TEST_CONFIG)
    with Daemon(config, TEST_ENV, folder / "daemon.log") as running:
        yield running


def do(daemon: Daemon, command: str, **parameters: Any) -> dict[str, Any]:
    answer: dict[str, Any] = requests.post(
        f"{daemon.url}/v1/do/sample/{command}", json=parameters, timeout=60
    ).json()
    return answer


def pid_of(answer: dict[str, Any]) -> int:
    assert answer["error"] is None, answer
    pid: int = answer["command_response"]["body"]["pid"]
    return pid


def test_a_worker_over_its_memory_or_cpu_is_replaced_and_calls_keep_succeeding(daemon: Daemon) -> None:
    first = pid_of(do(daemon, "Hoard", megabytes=8))
    hoarded = do(daemon, "Hoard", megabytes=2048)
    second = pid_of(do(daemon, "Hoard", megabytes=8))
    spun = do(daemon, "Spin", seconds=5)
    third = pid_of(do(daemon, "Hoard", megabytes=8))
    shown = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()}["sample"]

    for over in (hoarded, spun):
        assert over["error"]["error_code"] == "WorkerLimitExceeded", over
        assert over["command_response"]["http_status"] == 503
    assert "536870912 bytes" in hoarded["error"]["message"] and "1 s of CPU" in spun["error"]["message"]
    assert len({first, second, third}) == 3  # each limit cost the worker, never the connector
    assert shown["workers"]["over_limit"] == 2
    assert shown["workers"]["limits"] == {"memory_bytes": 536870912, "cpu_seconds": 1, "max_calls": 6}


def test_a_worker_that_answered_max_calls_is_replaced_between_calls(daemon: Daemon) -> None:
    pids = [pid_of(do(daemon, "Hoard")) for _ in range(13)]

    assert len(set(pids)) >= 2 and all(pids.count(pid) <= 6 for pid in set(pids))
    shown = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()}["sample"]
    assert shown["workers"]["recycled"] >= 2

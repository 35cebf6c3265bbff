"""Isolated workers with limits, through the real daemon: a worker over its memory or CPU limit costs
the call in flight a declared code and is replaced while the connector keeps serving; a worker that
answered max_calls is replaced between calls."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from connector_proxy.isolation.cgroups import memory_cgroups
from tests.support import TEST_CONFIG, TEST_ENV, Daemon, wait_until

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
    placed = Path(f"/proc/{second}/cgroup").read_text() if sys.platform == "linux" else ""
    spun = do(daemon, "Spin", seconds=5)
    third = pid_of(do(daemon, "Hoard", megabytes=8))
    shown = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()}["sample"]

    for over in (hoarded, spun):
        assert over["error"]["error_code"] == "WorkerLimitExceeded", over
        assert over["command_response"]["http_status"] == 503
    assert "536870912 bytes" in hoarded["error"]["message"] and "1 s of CPU" in spun["error"]["message"]
    assert len({first, second, third}) == 3  # each limit cost the worker, never the connector
    assert shown["workers"]["over_limit"] == 2
    limits = {"memory_bytes": 536870912, "cpu_seconds": 1, "max_calls": 6}
    assert {k: v for k, v in shown["workers"]["limits"].items() if v is not None} == limits
    given = memory_cgroups()  # this test's process has the daemon's cgroup: what it can give, it does
    assert shown["workers"]["memory_limited_by"] == (given.kind if given else "rlimit")
    assert ("/connector-proxy-" in placed) == (given is not None)  # the worker sat in a cgroup of its own


def test_without_a_cgroup_memory_bytes_bounds_the_address_space(tmp_path: Path) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(LIMITED.replace("max_calls = 6", "cgroup = false") + TEST_CONFIG)
    with Daemon(config, TEST_ENV, tmp_path / "daemon.log") as running:
        first = pid_of(do(running, "Hoard", megabytes=8))
        hoarded = do(running, "Hoard", megabytes=2048)
        second = pid_of(do(running, "Hoard", megabytes=8))
        shown = {c["name"]: c for c in requests.get(f"{running.url}/v1/connectors", timeout=5).json()}

    assert hoarded["error"]["error_code"] == "WorkerLimitExceeded" and first != second
    assert shown["sample"]["workers"]["memory_limited_by"] == "rlimit"


def test_a_worker_that_answered_max_calls_is_replaced_between_calls(daemon: Daemon) -> None:
    pids = [pid_of(do(daemon, "Hoard")) for _ in range(13)]

    assert len(set(pids)) >= 2 and all(pids.count(pid) <= 6 for pid in set(pids))
    shown = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()}["sample"]
    assert shown["workers"]["recycled"] >= 2


ELASTIC = f"""
[server]
workers = 1
[connectors.sample]
python = "{sys.executable}"
workers = 2
min_workers = 1
idle_seconds = 1
max_age_seconds = 2
"""


def workers_of(daemon: Daemon) -> dict[str, Any]:
    shown = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()}
    workers: dict[str, Any] = shown["sample"]["workers"]
    return workers


def test_idle_workers_are_stopped_down_to_the_minimum_and_old_ones_replaced(tmp_path: Path) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(ELASTIC + TEST_CONFIG)
    with Daemon(config, TEST_ENV, tmp_path / "daemon.log") as daemon:
        at_start = workers_of(daemon)["alive"]
        with ThreadPoolExecutor(2) as both:  # two calls at once: a second worker starts
            calls = [both.submit(lambda: pid_of(do(daemon, "Spin", seconds=0.5))) for _ in range(2)]
            # seen while it holds: once the calls end, the idle one may be stopped a second later
            busy = wait_until(lambda: workers_of(daemon)["alive"] == 2 and 2, 20, "a second worker")
            pids = {call.result() for call in calls}
        both_started_by = time.monotonic()
        rested = wait_until(
            lambda: (shown := workers_of(daemon))["stopped_idle"] >= 1 and shown["alive"] == 1 and shown,
            20,
            "an idle worker stopped",
        )
        # a duration, not an event: the one kept must be older than max_age_seconds (2 s) when next called
        time.sleep(max(0.0, both_started_by + 2.2 - time.monotonic()))
        later = pid_of(do(daemon, "Hoard"))
        after = workers_of(daemon)

    assert (at_start, len(pids), busy) == (1, 2, 2)
    assert rested["alive"] == 1 and rested["stopped_idle"] >= 1
    assert later not in pids and after["recycled"] >= 1  # the one kept was past max_age_seconds


def test_the_page_shows_an_isolated_connectors_workers_and_limits(daemon: Daemon) -> None:
    page = requests.get(f"{daemon.url}/", timeout=10).text

    assert re.search(r"isolated: [01] of 1 workers", page)  # 0 for a moment after a worker is replaced
    assert "memory bytes 536870912, cpu seconds 1, max calls 6" in page

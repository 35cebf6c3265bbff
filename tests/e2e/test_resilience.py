"""Slow, hung and bursting upstreams against the real daemon: the issues' scenarios with small numbers.

``python -m bench --resilience`` runs the same code with the large numbers.
"""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from bench import resilience, slow
from bench.upstreams import Upstream, fast_upstream, slow_upstream
from connector_proxy.sdk.testing import SilentServer
from connector_proxy.testing import RunningDaemon

DEADLINE = 2.0
GIVE_UP = 1.0
SMALL_BULKHEAD = "max_concurrent = 2\nstuck_after = 0.5\n"  # under [connectors.http.config.destinations]


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with fast_upstream() as running:
        yield running


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    config = tmp_path_factory.mktemp("resilience") / "plugins.toml"
    config.write_text(resilience.CONFIG)  # the default shape: 4 gevent workers, 500 calls per origin
    with RunningDaemon(config) as running:
        yield running


def test_parallel_calls_to_a_slow_upstream_all_succeed(daemon: RunningDaemon) -> None:
    with slow_upstream(delay=1.0) as upstream:
        started = time.monotonic()
        answers = slow.parallel_calls(daemon.url, upstream.url, calls=120)
        wall = time.monotonic() - started

    assert Counter(a.outcome for a in answers) == {"ok": 120}  # 32 threads refused 88 of them before
    assert wall < 2 * 1.0 + 1.0  # side by side, not in waves (bench/RESULTS.md has 1,000 calls)


def test_a_hung_upstream_stalls_nothing_else(daemon: RunningDaemon, upstream: Upstream) -> None:
    figures = resilience.hung_upstream(daemon, upstream.url, hung=40, deadline=DEADLINE, give_up=GIVE_UP)

    waited, gave_up = figures.answers[1::2], figures.answers[0::2]
    assert {a.outcome for a in waited} == {"Timeout"}  # each at its own deadline, none refused
    assert {a.outcome for a in gave_up} == {"no answer"}
    assert all(DEADLINE - 0.1 < a.seconds < DEADLINE + 1.5 for a in waited)
    assert all(a.status == 200 for a in waited)
    assert figures.liveness_max_ms < 1000  # never queued behind a hung call (bench/RESULTS.md: ~40 ms)
    assert figures.healthy_failures == 0
    assert figures.healthy_rate_during >= figures.healthy_rate_before / 2
    assert figures.open_at_upstream == 0  # every hung connection was closed at its deadline
    assert figures.same_workers


def test_a_burst_gets_an_envelope_for_every_call_and_leaves_memory_flat(
    daemon: RunningDaemon, upstream: Upstream
) -> None:
    figures = resilience.burst(daemon, upstream.url, calls=300, concurrency=32)

    assert figures.outcomes == {"ok": 600}
    assert figures.rss_after_second - figures.rss_after_first < 5  # MiB, over every worker


def test_a_stuck_origin_gets_destination_busy_in_the_documented_envelope(
    tmp_path: Path, upstream: Upstream
) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(resilience.CONFIG.replace("[server]", "[server]\nworkers = 1") + SMALL_BULKHEAD)
    with RunningDaemon(config) as small:
        figures = resilience.hung_upstream(small, upstream.url, hung=12, deadline=3.0, give_up=2.0)

    busy = [a for a in figures.answers if a.outcome == "DestinationBusy"]
    assert len(busy) == 10  # two in flight; the rest waited 0.5 s in line, then the origin counted as stuck
    assert all(a.status == 200 and a.is_envelope and 0.3 < a.seconds < 1.5 for a in busy)
    in_flight = [a.outcome for a in figures.answers if a.outcome != "DestinationBusy"]
    assert len(in_flight) == 2 and set(in_flight) <= {"Timeout", "no answer"}


def test_a_client_that_hangs_up_frees_its_call(daemon: RunningDaemon) -> None:
    with SilentServer() as silent:
        call = json.dumps({"url": silent.url, "timeout": 30, "spiff__task_data": {}}).encode()
        with socket.create_connection(_address(daemon)) as client:
            client.sendall(
                b"POST /v1/do/http/GetRequestV2 HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(call)}\r\n\r\n".encode()
                + call
            )
            assert _eventually(lambda: silent.open_connections() == 1)  # the call waits on the upstream
        # the client is gone: the call ends now, not at its 30 s deadline, and closes its upstream socket
        assert _eventually(lambda: silent.open_connections() == 0, seconds=3)


def test_a_client_sending_its_next_request_early_keeps_its_call(daemon: RunningDaemon) -> None:
    with slow_upstream(delay=1.0) as upstream:
        call = json.dumps({"url": upstream.url, "spiff__task_data": {}}).encode()
        request = (
            b"POST /v1/do/http/GetRequestV2 HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(call)}\r\n\r\n".encode()
            + call
        )
        with socket.create_connection(_address(daemon), timeout=10) as client:
            before = _in_flight(daemon)
            client.sendall(request)
            # the first call waits on the upstream when the second arrives (pipelining)
            assert _eventually(lambda: _in_flight(daemon) > before)
            client.sendall(request)
            answers = _read_answers(client.makefile("rb"), count=2)

    assert [status for status, _ in answers] == [200, 200]  # readable is not closed: nothing was ended
    assert [body["error"] for _, body in answers] == [None, None]


def _read_answers(stream: Any, count: int) -> list[tuple[int, Any]]:
    answers = []
    for _ in range(count):
        status = int(stream.readline().split()[1])
        length = 0
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            length = int(value) if name.lower() == "content-length" else length
        answers.append((status, json.loads(stream.read(length))))
    return answers


def _address(daemon: RunningDaemon) -> tuple[str, int]:
    parts = urlsplit(daemon.url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _in_flight(daemon: RunningDaemon) -> float:
    """The http connector's calls running now, as the daemon's /metrics counts them."""
    text = requests.get(f"{daemon.url}/metrics", timeout=5).text
    line = 'connector_proxy_calls_in_flight{connector="http"} '
    return sum(float(row[len(line) :]) for row in text.splitlines() if row.startswith(line))


def _eventually(condition: Callable[[], bool], seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()

"""The per-origin limit in the SDK's pools: calls wait in line while the origin moves, refused once stuck."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
import urllib3
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from connector_proxy.sdk import Context, TaskLog
from connector_proxy.sdk.destinations import DestinationPolicy
from connector_proxy.sdk.outbound import DestinationBusy, DestinationLineTimeout, pool_manager, pooled_session
from connector_proxy.sdk.testing import SilentServer
from tests.support import wait_until

STUCK_AFTER = 0.4
POLICY = DestinationPolicy(allow_loopback=True, max_concurrent=2, stuck_after=STUCK_AFTER)
Get = Callable[[str, float], int]


def session_get(url: str, timeout: float) -> int:
    return SESSION.get(url, timeout=timeout).status_code


def manager_get(url: str, timeout: float) -> int:
    response = MANAGER.request("GET", url, timeout=timeout, retries=False)
    return response.status


SESSION = pooled_session(POLICY)
MANAGER = pool_manager(POLICY)


@pytest.fixture(params=[session_get, manager_get], ids=["requests", "urllib3"])
def get(request: pytest.FixtureRequest) -> Get:
    getter: Get = request.param
    return getter


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server


def manager_get_with(manager: urllib3.PoolManager, url: str, timeout: float) -> int:
    return manager.request("GET", url, timeout=timeout, retries=False).status


def _hang(get: Get, silent: SilentServer, seconds: float, calls: int = 2) -> list[threading.Thread]:
    def call() -> None:
        with contextlib.suppress(requests.RequestException, urllib3.exceptions.HTTPError):
            get(silent.url, seconds)  # times out, as asked

    threads = [threading.Thread(target=call) for _ in range(calls)]
    for thread in threads:
        thread.start()
    waiting = f"{calls} calls waiting on the silent upstream"
    wait_until(lambda: silent.open_connections() >= calls, seconds, waiting)
    return threads


def test_a_call_to_a_stuck_origin_is_refused_at_once(get: Get, silent: SilentServer) -> None:
    hung = _hang(get, silent, seconds=2.0)
    time.sleep(STUCK_AFTER)  # a duration, not an event: nothing started or ended for stuck_after

    started = time.monotonic()
    with pytest.raises(DestinationBusy) as refused:
        get(silent.url, 5)

    assert time.monotonic() - started < 0.2
    assert refused.value.reason.endswith(
        "has 2 calls in flight in this worker and none started or ended for 0.4 s"
    )
    assert refused.value.origin == silent.url
    for thread in hung:
        thread.join()


def test_a_call_waits_in_line_until_the_origin_counts_as_stuck(get: Get, silent: SilentServer) -> None:
    hung = _hang(get, silent, seconds=2.0)  # the second started a moment ago

    started = time.monotonic()
    with pytest.raises(DestinationBusy):
        get(silent.url, 5)

    # it waited out the rest of stuck_after (at most all of it, when the hung calls began late on a busy
    # machine), far short of its own 5 s
    assert 0.05 < time.monotonic() - started < STUCK_AFTER + 0.2
    for thread in hung:
        thread.join()


def test_a_call_in_line_ends_at_its_pool_timeout(silent: SilentServer) -> None:
    manager = pool_manager(DestinationPolicy(allow_loopback=True, max_concurrent=1))
    hung = _hang(lambda url, seconds: manager_get_with(manager, url, seconds), silent, seconds=2.0, calls=1)

    started = time.monotonic()
    with pytest.raises(DestinationLineTimeout) as waited:
        manager.request("GET", silent.url, timeout=5, pool_timeout=0.5, retries=False)

    assert 0.45 < time.monotonic() - started < 0.8
    assert isinstance(waited.value, urllib3.exceptions.TimeoutError)  # connectors map it as a timeout
    for thread in hung:
        thread.join()


def test_a_call_in_line_ends_at_its_commands_deadline(silent: SilentServer) -> None:
    session = pooled_session(DestinationPolicy(allow_loopback=True, max_concurrent=1))
    hung = _hang(lambda url, seconds: session.get(url, timeout=seconds).status_code, silent, 2.0, calls=1)
    log = TaskLog(logging.getLogger("test"))
    context = Context(config={}, resources=None, log=log, deadline=time.monotonic() + 0.5)

    started = time.monotonic()
    with context.running(), pytest.raises(DestinationLineTimeout):
        session.get(silent.url, timeout=5)

    assert 0.45 < time.monotonic() - started < 0.8
    for thread in hung:
        thread.join()


def test_time_in_line_comes_off_the_read_timeout(httpserver: HTTPServer, silent: SilentServer) -> None:
    manager = pool_manager(DestinationPolicy(allow_loopback=True, max_concurrent=1))
    hung = _hang(lambda url, seconds: manager_get_with(manager, url, seconds), silent, seconds=0.8, calls=1)

    started = (
        time.monotonic()
    )  # in line until the first call's 0.8 s are up, then a connection that hangs too
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        manager.request("GET", silent.url, timeout=1.0, pool_timeout=1.0, retries=False)

    assert time.monotonic() - started < 1.25  # the promise was 1 s in all, not 1 s after the line
    for thread in hung:
        thread.join()


def test_slots_come_back_after_timeouts(get: Get, silent: SilentServer, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/ok").respond_with_data("ok")
    for thread in _hang(get, silent, seconds=0.5):
        thread.join()

    for thread in _hang(get, silent, seconds=0.5):  # two slots again, not zero
        thread.join()
    assert silent.open_connections() == 0


def test_other_origins_are_not_limited_by_a_stuck_one(
    get: Get, silent: SilentServer, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/ok").respond_with_data("ok")
    hung = _hang(get, silent, seconds=1.5)

    assert [get(httpserver.url_for("/ok"), 5) for _ in range(5)] == [200] * 5
    for thread in hung:
        thread.join()


def test_a_busy_but_answering_origin_makes_calls_wait_not_fail(get: Get) -> None:
    def slowly(request: Request) -> Response:
        time.sleep(0.01)  # a duration, not an event: an origin busy but answering
        return Response("ok")

    statuses: list[int | str] = []

    def client(url: str) -> None:
        for _ in range(10):
            try:
                statuses.append(get(url, 5))
            except DestinationBusy:
                statuses.append("busy")

    with HTTPServer(threaded=True) as upstream:  # answers calls side by side, as real ones do
        upstream.expect_request("/slow").respond_with_handler(slowly)
        threads = [threading.Thread(target=client, args=(upstream.url_for("/slow"),)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert statuses == [200] * 40

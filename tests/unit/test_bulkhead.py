"""The per-destination limit in the SDK's pools: refusals are immediate and slots always come back."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
import urllib3
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from connector_proxy.sdk.outbound import DestinationBusy, DestinationPolicy, pool_manager, pooled_session
from connector_proxy.testing import SilentServer

POLICY = DestinationPolicy(allow_loopback=True, max_concurrent=2)
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


def _hang(get: Get, url: str, seconds: float) -> list[threading.Thread]:
    def call() -> None:
        with contextlib.suppress(requests.RequestException, urllib3.exceptions.HTTPError):
            get(url, seconds)  # times out, as asked

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # both calls are now waiting on the silent upstream
    return threads


def test_a_third_call_to_a_stuck_origin_is_refused_at_once(get: Get, silent: SilentServer) -> None:
    hung = _hang(get, silent.url, seconds=1.5)

    started = time.monotonic()
    with pytest.raises(DestinationBusy) as refused:
        get(silent.url, 5)

    assert time.monotonic() - started < 0.2
    assert refused.value.reason.endswith("already has 2 calls in flight in this worker")
    assert refused.value.origin == silent.url.replace("http://", "http://", 1)
    for thread in hung:
        thread.join()


def test_slots_come_back_after_timeouts(get: Get, silent: SilentServer, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/ok").respond_with_data("ok")
    for thread in _hang(get, silent.url, seconds=0.5):
        thread.join()

    for thread in _hang(get, silent.url, seconds=0.5):  # two slots again, not zero
        thread.join()
    assert silent.open_connections() == 0


def test_other_origins_are_not_limited_by_a_stuck_one(
    get: Get, silent: SilentServer, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/ok").respond_with_data("ok")
    hung = _hang(get, silent.url, seconds=1.5)

    assert [get(httpserver.url_for("/ok"), 5) for _ in range(5)] == [200] * 5
    for thread in hung:
        thread.join()


def test_a_busy_but_answering_origin_makes_calls_wait_not_fail(get: Get) -> None:
    def slowly(request: Request) -> Response:
        time.sleep(0.01)
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

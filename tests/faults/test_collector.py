"""Tracing can never hold a call: a collector down, refusing, hung or slow costs calls nothing.

The SDK's BatchSpanProcessor once ran fork hooks in the children gevent's ``subprocess`` forks: the
os connector's programs hung before they were exec'd (15 of 48 echo jobs, 3 of 40 calls). Spans now
leave through a bounded queue with no fork hook; what cannot be sent is dropped and counted.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from connector_proxy.sdk.testing import SilentServer, free_port
from connector_proxy.testing import start_seconds
from tests.support import Daemon

JOBS, CALLS = 48, 40


@contextmanager
def answering(status: int, delay: float) -> Iterator[str]:
    """A collector that reads each export and answers ``status`` after ``delay`` seconds."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(delay)  # a duration, not an event: a collector that must be slow
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def collector(kind: str) -> Iterator[str]:
    if kind == "down":
        yield f"http://127.0.0.1:{free_port()}"  # nobody listens: each connection is refused
    elif kind == "hung":
        silent = SilentServer()  # accepts, never answers
        try:
            yield silent.url
        finally:
            silent.close()
    else:  # "refusing" answers 503 at once, "slow" 200 after a second
        with answering(503, 0.0) if kind == "refusing" else answering(200, 1.0) as url:
            yield url


@pytest.fixture(params=["down", "refusing", "hung", "slow"])
def traced(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Daemon]]:
    config = tmp_path / "plugins.toml"
    config.write_text(
        f"""
[server]
workers = 2
[jobs]
sqlite_path = "jobs.sqlite3"
threads = 4
[connectors.os.config]
roots = ["{tmp_path}"]
[connectors.os.config.programs.echo]
[connectors.os.config.programs.python]
path = "{sys.executable}"
"""
    )
    with collector(request.param) as url:
        environ = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_BSP_MAX_QUEUE_SIZE": "64",  # small: a collector that does not keep up fills it
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2",
        }
        with Daemon(config, environ, tmp_path / "daemon.log", samples=False) as daemon:
            yield request.param, daemon


def echo(daemon: Daemon, n: int, asynchronously: bool) -> requests.Response:
    payload = {
        "program": "echo",
        "args": [f"call-{n}"],
        "spiff__task_id": str(uuid.uuid4()),
        "spiff__process_instance_id": n,
        "spiff__task_data": {},
    }
    headers = {"Prefer": "respond-async"} if asynchronously else {}
    return requests.post(f"{daemon.url}/v1/do/os/RunCommand", json=payload, headers=headers, timeout=30)


def finished(daemon: Daemon, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Every job's record once none is queued or running (or the start deadline passed)."""
    deadline = time.monotonic() + start_seconds()
    while True:
        jobs = {
            job_id: requests.get(f"{daemon.url}/v1/jobs/{job_id}", timeout=10).json() for job_id in job_ids
        }
        if all(job["state"] not in ("queued", "running") for job in jobs.values()):
            return jobs
        if time.monotonic() > deadline:
            return jobs
        time.sleep(0.2)


def test_every_call_and_job_answers_whatever_the_collector_does(traced: tuple[str, Daemon]) -> None:
    kind, daemon = traced
    with ThreadPoolExecutor(8) as pool:
        accepted = list(pool.map(lambda n: echo(daemon, n, asynchronously=True), range(JOBS)))
        answered = list(pool.map(lambda n: echo(daemon, n, asynchronously=False), range(CALLS)))
    job_ids = [answer.json()["command_response"]["body"]["job_id"] for answer in accepted]
    jobs = finished(daemon, job_ids)

    assert [answer.status_code for answer in accepted] == [202] * JOBS
    assert [answer.status_code for answer in answered] == [200] * CALLS
    assert [a.json()["command_response"]["body"]["stdout"] for a in answered] == [
        f"call-{n}\n" for n in range(CALLS)
    ]
    states = [job["state"] for job in jobs.values()]
    assert states == ["succeeded"] * JOBS, f"{states}\n{daemon.log.read_text()[-4000:]}"
    if kind != "slow":  # a slow collector takes what it is sent, or some of it
        assert dropped(daemon) > 0


def dropped(daemon: Daemon) -> float:
    """``connector_proxy_spans_dropped_total`` over every reason, once the exporter has given up on
    something (the hung collector's first export takes OTEL_EXPORTER_OTLP_TIMEOUT to fail)."""
    deadline = time.monotonic() + start_seconds()
    total = 0.0
    while time.monotonic() < deadline:
        scrape = requests.get(f"{daemon.url}/metrics", timeout=10).text
        counted = re.findall(r'^connector_proxy_spans_dropped_total\{reason="(\w+)"\} (\S+)$', scrape, re.M)
        total = sum(float(value) for _, value in counted)
        if total:
            return total
        time.sleep(0.2)
    return total

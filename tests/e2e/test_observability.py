"""What an operator sees of the calls, through the real daemon under gunicorn: ``/metrics`` summed
over its workers after a known sequence of calls, and log lines (JSON, request ids, no secrets)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from connector_proxy.sdk.testing import silent_server
from tests.support import TEST_ENV, CallbackReceiver, Daemon

API_KEY = "api-key-for-the-tests"
METRICS_KEY = "metrics-key-for-the-tests"
PLANTED = "planted-secret-4b1d"  # must appear in no log line, wherever it was sent


def post(daemon: Daemon, command: str, payload: dict[str, Any], **headers: str) -> requests.Response:
    """A call on a fresh connection (as a host without a session makes), so workers share the calls."""
    return requests.post(
        f"{daemon.url}/v1/do/{command}",
        json=payload,
        headers={"Spiff-Connector-Proxy-Api-Key": API_KEY, **headers},
        timeout=20,
    )


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _delivered(daemon: Daemon, seconds: float = 20) -> None:
    """Wait until the one job's delivery is recorded (the host answered, the daemon read it)."""
    deadline = time.monotonic() + seconds
    headers = {"Spiff-Connector-Proxy-Api-Key": API_KEY}
    while time.monotonic() < deadline:
        jobs = requests.get(f"{daemon.url}/v1/jobs", headers=headers, timeout=5).json()["jobs"]
        if jobs and jobs[0]["delivery"]["state"] == "delivered":
            return
        time.sleep(0.05)
    raise AssertionError("the job's delivery was never recorded")


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    receiving = CallbackReceiver()
    yield receiving
    receiving.close()


def test_metrics_after_a_known_sequence_of_calls(tmp_path: Path, receiver: CallbackReceiver) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[server]\nworkers = 2\n[auth]\napi_keys = ["{API_KEY}"]\n[metrics]\nkey = "env:METRICS_KEY"\n'
        f'[jobs]\nsqlite_path = "{tmp_path / "jobs.sqlite3"}"\n'
        "[discovery]\nenable_unlisted = false\n"
        f'[connectors.sample]\npython = "{sys.executable}"\nworkers = 1\n'
        '[connectors.sample.config]\ntoken = "env:SAMPLE_TOKEN"\n'
    )
    environ = {**TEST_ENV, "METRICS_KEY": METRICS_KEY}
    with Daemon(config, environ, tmp_path / "daemon.log") as daemon, silent_server() as silent:
        for _ in range(5):
            assert post(daemon, "sample/Greet", {"name": "Ada"}).json()["error"] is None
        for _ in range(2):
            assert (
                post(daemon, "sample/Greet", {"name": "Mallory"}).json()["error"]["error_code"]
                == "NotWelcome"
            )
        assert post(daemon, "sample/Greet", {}).status_code == 400
        assert post(daemon, "sample/Nope", {}).status_code == 404
        busy = post(daemon, "sample/Crowd", {"url": silent, "stuck_after": 0})
        assert busy.json()["error"]["error_code"] == "DestinationBusy"
        job = {"name": "Bo", "spiff__callback_url": f"{receiver.url}/cb", "spiff__task_id": "t-1"}
        assert post(daemon, "sample/Greet", job, Prefer="respond-async").status_code == 202
        assert len(receiver.wait_for(1)) == 1
        _delivered(daemon)  # the host has it; the daemon counts it once it has read the host's answer

        refused = requests.get(f"{daemon.url}/metrics", headers={"Spiff-Connector-Proxy-Api-Key": API_KEY})
        scrape = requests.get(f"{daemon.url}/metrics", headers={"Authorization": f"Bearer {METRICS_KEY}"})
        workers = len(daemon.worker_pids())

    assert refused.status_code == 401 and refused.json()["error_code"] == "Unauthorized"
    assert scrape.status_code == 200 and scrape.headers["Content-Type"].startswith("text/plain")
    found = samples(scrape.text)

    def calls(connector: str, command: str, outcome: str, code: str = "") -> float:
        labels = (("command", command), ("connector", connector), ("error_code", code), ("outcome", outcome))
        return found[("connector_proxy_calls_total", labels)]

    assert calls("sample", "Greet", "ok") == 6  # five at once, one as a job
    assert calls("sample", "Greet", "upstream_error", "NotWelcome") == 2
    assert calls("sample", "Greet", "proxy_error", "InvalidParameters") == 1
    assert calls("", "", "proxy_error", "command_not_found") == 1
    assert calls("sample", "Crowd", "proxy_error", "DestinationBusy") == 1
    greet = (("command", "Greet"), ("connector", "sample"))
    assert found[("connector_proxy_call_duration_seconds_count", greet)] == 9
    assert found[("connector_proxy_calls_in_flight", (("connector", "sample"),))] == 0
    refusals = (("connector", "sample"), ("kind", "busy"))
    assert found[("connector_proxy_outbound_refusals_total", refusals)] == 1
    assert found[("connector_proxy_callback_deliveries_total", (("result", "delivered"),))] == 1
    assert found[("connector_proxy_jobs", (("state", "succeeded"),))] == 1
    assert found[("connector_proxy_jobs", (("state", "queued"),))] == 0
    # each daemon worker started its own isolated worker for the sample connector
    assert workers == 2
    assert found[("connector_proxy_isolated_workers", (("connector", "sample"),))] == 2
    started = (("connector", "sample"), ("event", "started"))
    assert found[("connector_proxy_isolated_worker_events_total", started)] == 2


@pytest.fixture
def upstream() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_log_lines_carry_request_ids_and_no_secret(
    tmp_path: Path, upstream: HTTPServer, receiver: CallbackReceiver
) -> None:
    seen: list[dict[str, str]] = []

    def record(request: Request) -> Response:
        seen.append(dict(request.headers))
        return Response('{"ok": true}', content_type="application/json")

    upstream.expect_request("/data").respond_with_handler(record)
    config = tmp_path / "plugins.toml"
    config.write_text(
        '[server]\nworkers = 1\nlog_format = "json"\naccess_log = true\nlog_level = "debug"\n'
        f'[auth]\napi_keys = ["{API_KEY}"]\n[jobs]\nsqlite_path = "{tmp_path / "jobs.sqlite3"}"\n'
        "[discovery]\nenable_unlisted = false\n"
        "[connectors.http.config.destinations]\nallow_loopback = true\n"
    )
    call = {
        "url": upstream.url_for(f"/data?token={PLANTED}"),
        "headers": {"Authorization": f"Bearer {PLANTED}"},
        "basic_auth_username": "ada",
        "basic_auth_password": PLANTED,
        "spiff__task_id": "task-7",
        "spiff__process_instance_id": 42,
    }
    with Daemon(config, TEST_ENV, tmp_path / "daemon.log") as daemon:
        given = post(daemon, "http/GetRequest", call, **{"X-Request-Id": "host-req-1"})
        made = post(daemon, "http/GetRequest", {**call, "spiff__task_id": "task-8"})
        job = {**call, "spiff__callback_url": f"{receiver.url}/cb", "spiff__task_id": "task-9"}
        accepted = post(
            daemon, "http/GetRequest", job, Prefer="respond-async", **{"X-Request-Id": "host-req-2"}
        )
        receiver.wait_for(1)
        bad = post(daemon, "http/GetRequest", {"url": 3, "basic_auth_password": PLANTED})
    text = (tmp_path / "daemon.log").read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is a JSON record

    assert given.headers["X-Request-Id"] == "host-req-1"
    generated = made.headers["X-Request-Id"]
    assert len(generated) == 32 and generated != "host-req-1"
    assert [headers.get("X-Request-Id") for headers in seen] == ["host-req-1", generated, "host-req-2"]
    assert accepted.status_code == 202 and receiver.headers["X-Request-Id"] == "host-req-2"
    assert bad.status_code == 400
    for request_id, task in (("host-req-1", "task-7"), (generated, "task-8")):
        mine = [line for line in lines if line.get("request_id") == request_id]
        executor = [line for line in mine if line["logger"] == "connector_proxy.calls.executor"]
        assert executor and executor[0]["task_id"] == task and executor[0]["process_instance_id"] == 42
        access = [line for line in mine if line["logger"] == "gunicorn.access"]
        assert access[0]["path"] == "/v1/do/http/GetRequest" and access[0]["status"] == 200
    delivered = [line for line in lines if "delivered" in line["message"]]
    assert delivered and delivered[0]["request_id"] == "host-req-2" and delivered[0]["task_id"] == "task-9"
    assert PLANTED not in text and API_KEY not in text

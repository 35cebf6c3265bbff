"""OpenTelemetry tracing through the real daemon, exported over OTLP/HTTP to a receiver this test runs.

The host's W3C ``traceparent`` is continued by the request's span; the call, its validation, its
command and each upstream request get spans (the upstream is handed the trace), as do a job's run and
its callback, a webhook's receipt and its message's delivery, and an isolated worker's call, which
exports its spans itself with the trace carried over the isolation protocol. No attribute holds a
value a call carries.
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from pytest_httpserver import HTTPServer

from connector_proxy.sdk.testing import CallbackReceiver
from connector_proxy.testing import MessageHost
from tests.support import TEST_ENV, Daemon

SECRET = "query-secret-0123456789"


class OtlpReceiver:
    """An OTLP/HTTP traces endpoint on 127.0.0.1: every span it was sent, decoded."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                exported = ExportTraceServiceRequest.FromString(body)
                receiver.spans.extend(_decoded(exported))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def trace(self, trace_id: str, names: set[str], seconds: float = 20) -> dict[str, dict[str, Any]]:
        """The spans of one trace by name, once every name has arrived."""
        deadline = time.monotonic() + seconds
        while True:
            found = {span["name"]: span for span in list(self.spans) if span["trace_id"] == trace_id}
            if names <= set(found):
                return found
            assert time.monotonic() < deadline, f"only {sorted(found)} arrived of {sorted(names)}"
            time.sleep(0.1)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _decoded(exported: ExportTraceServiceRequest) -> Iterator[dict[str, Any]]:
    for resource_spans in exported.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield {
                    "name": span.name,
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent": span.parent_span_id.hex(),
                    "kind": span.kind,
                    "attributes": {a.key: _value(a.value) for a in span.attributes},
                    "service": resource.get("service.name"),
                }


def _value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


def traceparent() -> tuple[str, str, str]:
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, parent, f"00-{trace_id}-{parent}-01"


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[Daemon, OtlpReceiver, MessageHost]]:
    otlp, host = OtlpReceiver(), MessageHost()
    config = tmp_path / "plugins.toml"
    config.write_text(
        f"""
[server]
workers = 1
[connectors.sample.config]
token = "env:SAMPLE_TOKEN"
[connectors.http.config.destinations]
allow_loopback = true
[connectors.unruly]
python = "{sys.executable}"
workers = 1
[jobs]
sqlite_path = "jobs.sqlite3"
callback_allow = ["127.0.0.1"]
[events]
host_url = "{host.url}"
[subscriptions.signups]
trigger = "sample/signup"
message = "signed_up"
settings = {{ secret = "signup-token-0123456789" }}
"""
    )
    environ = {**TEST_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    with Daemon(config, environ, tmp_path / "daemon.log") as daemon:
        yield daemon, otlp, host
    otlp.close()
    host.__exit__(None, None, None)


def test_a_call_continues_the_hosts_trace_down_to_the_upstream(
    traced: tuple[Daemon, OtlpReceiver, MessageHost], httpserver: HTTPServer
) -> None:
    daemon, otlp, _host = traced
    httpserver.expect_request("/hello").respond_with_json({"hi": "there"})
    trace_id, parent, header = traceparent()
    payload = {
        "url": httpserver.url_for(f"/hello?token={SECRET}"),
        "spiff__process_instance_id": 42,
        "spiff__task_id": "t-1",
    }

    answer = requests.post(
        f"{daemon.url}/v1/do/http/GetRequestV2", json=payload, headers={"traceparent": header}, timeout=30
    )
    spans = otlp.trace(
        trace_id,
        {
            "POST /v1/do/<connector>/<command>",
            "call http/GetRequestV2",
            "validate",
            "command http/GetRequestV2",
            "GET",
        },
    )

    assert answer.json()["error"] is None
    server, call = spans["POST /v1/do/<connector>/<command>"], spans["call http/GetRequestV2"]
    assert server["parent"] == parent and server["service"] == "connector-proxy"
    assert server["attributes"]["http.response.status_code"] == 200
    assert call["parent"] == server["span_id"]
    assert call["attributes"]["connector_proxy.connector"] == "http"
    assert (
        call["attributes"]["spiff.process_instance_id"] == "42"
        and call["attributes"]["spiff.task_id"] == "t-1"
    )
    assert spans["validate"]["parent"] == spans["command http/GetRequestV2"]["parent"] == call["span_id"]
    assert spans["GET"]["parent"] == spans["command http/GetRequestV2"]["span_id"]
    assert spans["GET"]["attributes"]["server.address"] == "localhost"  # pytest-httpserver's name
    sent = httpserver.log[0][0].headers["traceparent"]
    assert sent.split("-")[1] == trace_id and sent.split("-")[2] == spans["GET"]["span_id"]
    assert SECRET not in str(otlp.spans) and TEST_ENV["SAMPLE_TOKEN"] not in str(otlp.spans)


def test_a_job_its_callback_a_webhooks_message_and_an_isolated_call_join_their_traces(
    traced: tuple[Daemon, OtlpReceiver, MessageHost],
) -> None:
    daemon, otlp, host = traced
    job_trace, _, job_header = traceparent()
    event_trace, _, event_header = traceparent()
    worker_trace, _, worker_header = traceparent()
    receiver = CallbackReceiver()
    try:
        requests.post(
            f"{daemon.url}/v1/do/sample/Sleep",
            json={"seconds": 0.05, "spiff__callback_url": f"{receiver.url}/cb", "spiff__task_id": "t-2"},
            headers={"traceparent": job_header, "Prefer": "respond-async"},
            timeout=30,
        )
        receiver.wait_for(1)
        put_with = receiver.headers.get("traceparent", "")
    finally:
        receiver.close()
    requests.post(
        f"{daemon.url}/v1/inbound/sample/signup",
        json={"email": "ada@example.com"},
        headers={"X-Webhook-Token": "signup-token-0123456789", "traceparent": event_header},
        timeout=30,
    )
    [message] = host.wait_for(1) and host.messages
    requests.post(
        f"{daemon.url}/v1/do/unruly/Fine", json={}, headers={"traceparent": worker_header}, timeout=30
    )

    job = otlp.trace(job_trace, {"job sample/Sleep", "callback sample/Sleep", "command sample/Sleep", "PUT"})
    event = otlp.trace(event_trace, {"receive signups", "deliver message signed_up", "POST"})
    worker = otlp.trace(worker_trace, {"command unruly/Fine", "worker call unruly/Fine"})

    assert (
        put_with.split("-")[1] == job_trace
        and job["PUT"]["parent"] == job["callback sample/Sleep"]["span_id"]
    )
    assert message.traceparent is not None and message.traceparent.split("-")[1] == event_trace
    assert event["POST"]["parent"] == event["deliver message signed_up"]["span_id"]
    isolated = worker["worker call unruly/Fine"]
    assert isolated["service"] == "connector-proxy unruly"  # exported by the worker process itself
    assert isolated["parent"] == worker["command unruly/Fine"]["span_id"]

from __future__ import annotations

import base64
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from connector_proxy.sdk.testing import call, free_port, silent_server
from connector_proxy.testing import app_client

# the tests' upstreams live on 127.0.0.1, which the destination policy refuses by default
CONFIG = "[connectors.http.config.destinations]\nallow_loopback = true\n"


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return app_client(tmp_path, CONFIG)


def get(client: FlaskClient, url: str, **parameters: Any) -> tuple[int, Any]:
    return call(client, "http/GetRequestV2", {"url": url, **parameters})


def test_json_passes_through_with_query_and_headers(client: FlaskClient, httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/items", query_string={"page": "2"}, headers={"X-Trace": "abc"}
    ).respond_with_json({"items": [1, 2]})

    status, answer = get(client, httpserver.url_for("/items"), params={"page": 2}, headers={"X-Trace": "abc"})

    assert status == 200
    assert answer["error"] is None
    assert answer["command_response"] == {
        "body": {"items": [1, 2]},
        "mimetype": "application/json",
        "http_status": 200,
    }
    assert answer["spiff__logs"][0].startswith(f"[INFO] GET http://localhost:{httpserver.port} answered 200")


@pytest.mark.parametrize(
    ("data", "content_type", "body"),
    [
        ("<order><id>7</id></order>", "application/xml", {"order": {"id": "7"}}),
        ("plain words", "text/plain", {"raw_response": "plain words"}),
        ("caf\u00e9".encode("latin-1"), "text/plain; charset=ISO-8859-1", {"raw_response": "caf\u00e9"}),
        ("caf\u00e9".encode("latin-1"), "text/plain", {"raw_response": "caf\ufffd"}),
        ("{broken json", "application/json", {"raw_response": "{broken json"}),
        ("", "application/json", {}),
    ],
)
def test_bodies_are_decoded_by_content_type(
    client: FlaskClient, httpserver: HTTPServer, data: str | bytes, content_type: str, body: Any
) -> None:
    httpserver.expect_request("/doc").respond_with_data(data, content_type=content_type)

    _, answer = get(client, httpserver.url_for("/doc"))

    assert answer["command_response"]["body"] == body


def test_binary_bodies_arrive_as_base64(client: FlaskClient, httpserver: HTTPServer) -> None:
    payload = bytes(range(256))
    httpserver.expect_request("/blob").respond_with_data(payload, content_type="application/octet-stream")

    _, answer = get(client, httpserver.url_for("/blob"))

    assert base64.b64decode(answer["command_response"]["body"]["raw_response_base64"]) == payload


@pytest.mark.parametrize(
    ("body_format", "data", "expected_type", "expected_body"),
    [
        ("json", {"a": [1, True]}, "application/json", b'{"a": [1, true]}'),
        ("form", {"a": "1", "b": "x y"}, "application/x-www-form-urlencoded", b"a=1&b=x+y"),
        ("raw", "<x/>", None, b"<x/>"),
    ],
)
def test_post_sends_the_body_in_the_chosen_format(
    client: FlaskClient,
    httpserver: HTTPServer,
    body_format: str,
    data: Any,
    expected_type: str | None,
    expected_body: bytes,
) -> None:
    httpserver.expect_request("/submit", method="POST", data=expected_body).respond_with_json(
        {"stored": True}
    )
    headers = {"Content-Type": "application/xml"} if body_format == "raw" else {}

    status, answer = call(
        client,
        "http/PostRequestV2",
        {"url": httpserver.url_for("/submit"), "data": data, "body_format": body_format, "headers": headers},
    )

    assert status == 200, answer
    assert answer["command_response"]["body"] == {"stored": True}
    sent = httpserver.log[0][0]
    assert sent.headers.get("Content-Type") == (expected_type or "application/xml")


def test_form_needs_an_object(client: FlaskClient) -> None:
    status, answer = call(
        client, "http/PostRequest", {"url": "http://127.0.0.1:1/", "data": [1], "body_format": "form"}
    )

    assert status == 400
    assert answer["error"]["message"] == "Invalid parameters: data: must be of type object"


@pytest.mark.parametrize("url", ["ftp://example.com/file", "example.com", "http://"])
def test_only_http_urls_are_accepted(client: FlaskClient, url: str) -> None:
    status, answer = get(client, url)

    assert status == 400
    assert answer["error"]["message"] == "Invalid parameters: url: must be an http:// or https:// URL"


def test_every_method_reaches_the_upstream(client: FlaskClient, httpserver: HTTPServer) -> None:
    for method in ("PUT", "PATCH", "DELETE"):
        httpserver.expect_request("/thing", method=method).respond_with_json({"method": method})
        status, answer = call(
            client, f"http/{method.capitalize()}Request", {"url": httpserver.url_for("/thing")}
        )
        assert (status, answer["command_response"]["body"]) == (200, {"method": method})


def test_the_user_agent_is_ours_unless_the_call_sets_one(client: FlaskClient, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/ua").respond_with_json({})
    get(client, httpserver.url_for("/ua"))
    get(client, httpserver.url_for("/ua"), headers={"user-agent": "model/1"})

    assert [request.headers["User-Agent"] for request, _ in httpserver.log] == [
        "connector-proxy-http/0.1",
        "model/1",
    ]


def test_head_answers_the_headers(client: FlaskClient, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/head", method="HEAD").respond_with_data("", headers={"ETag": '"v7"'})

    _, answer = call(client, "http/HeadRequestV2", {"url": httpserver.url_for("/head")})

    assert answer["command_response"]["body"]["headers"]["ETag"] == '"v7"'


def test_head_of_a_large_resource_is_not_too_large(tmp_path: Path, httpserver: HTTPServer) -> None:
    client = app_client(tmp_path, _limited_config())
    httpserver.expect_request("/big", method="HEAD").respond_with_data("x" * 5000)

    _, answer = call(client, "http/HeadRequest", {"url": httpserver.url_for("/big")})

    assert answer["error"] is None
    assert answer["command_response"]["body"]["headers"]["Content-Length"] == "5000"


def test_response_headers_on_request(client: FlaskClient, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/h").respond_with_json([1], headers={"X-Rate-Remaining": "9"})

    _, answer = get(client, httpserver.url_for("/h"), include_response_headers=True)

    assert answer["command_response"]["body"]["body"] == [1]
    assert answer["command_response"]["body"]["headers"]["X-Rate-Remaining"] == "9"


@pytest.mark.parametrize("upstream_status", [404, 500, 503])
def test_an_upstream_failure_completes_the_call_with_httperror(
    client: FlaskClient, httpserver: HTTPServer, upstream_status: int
) -> None:
    httpserver.expect_request("/fail").respond_with_json({"why": "upstream says no"}, status=upstream_status)

    status, answer = get(client, httpserver.url_for("/fail"))

    assert status == 200
    assert answer["error"]["error_code"] == f"HttpError{upstream_status}"
    assert answer["command_response"]["http_status"] == upstream_status
    assert answer["command_response"]["body"] == {"why": "upstream says no"}


def flaky(failures: int, status: int = 503) -> tuple[list[float], Any]:
    seen: list[float] = []

    def handler(request: Request) -> Response:
        seen.append(time.monotonic())
        if len(seen) <= failures:
            return Response("busy", status=status, headers={"Retry-After": "0"})
        return Response(json.dumps({"attempt": len(seen)}), content_type="application/json")

    return seen, handler


def test_idempotent_calls_are_retried_on_5xx(client: FlaskClient, httpserver: HTTPServer) -> None:
    seen, handler = flaky(failures=2)
    httpserver.expect_request("/flaky").respond_with_handler(handler)

    _, answer = get(client, httpserver.url_for("/flaky"), attempts=3)

    assert answer["error"] is None
    assert answer["command_response"]["body"] == {"attempt": 3}
    assert len(seen) == 3


def test_the_last_attempts_answer_is_reported(client: FlaskClient, httpserver: HTTPServer) -> None:
    seen, handler = flaky(failures=5, status=429)
    httpserver.expect_request("/limited").respond_with_handler(handler)

    _, answer = get(client, httpserver.url_for("/limited"), attempts=2)

    assert answer["error"]["error_code"] == "HttpError429"
    assert len(seen) == 2


def test_post_is_not_retried_unless_asked(client: FlaskClient, httpserver: HTTPServer) -> None:
    seen, handler = flaky(failures=2)
    httpserver.expect_request("/create", method="POST").respond_with_handler(handler)
    url = httpserver.url_for("/create")

    _, once = call(client, "http/PostRequest", {"url": url, "data": {}, "attempts": 3})
    _, retried = call(client, "http/PostRequest", {"url": url, "attempts": 3, "retry_non_idempotent": True})

    assert once["error"]["error_code"] == "HttpError503"
    assert retried["error"] is None
    assert len(seen) == 3


def test_a_hung_upstream_is_cut_at_the_timeout(client: FlaskClient) -> None:
    with silent_server() as url:
        started = time.monotonic()
        status, answer = get(client, url, timeout=0.5)
        elapsed = time.monotonic() - started

    assert status == 200
    assert answer["error"]["error_code"] == "Timeout"
    assert answer["command_response"]["http_status"] == 504
    assert elapsed < 3


def test_a_refused_connection_is_connection_failed(client: FlaskClient) -> None:
    status, answer = get(client, f"http://127.0.0.1:{free_port()}/", attempts=2)

    assert status == 200
    assert answer["error"]["error_code"] == "ConnectionFailed"
    assert "connection refused" in answer["error"]["message"]
    assert answer["command_response"]["http_status"] == 502
    assert sum("connection refused (attempt" in line for line in answer["spiff__logs"]) == 2


def test_an_unknown_host_is_connection_failed(client: FlaskClient) -> None:
    _, answer = get(client, "http://no-such-host.invalid/")

    assert answer["error"]["error_code"] == "ConnectionFailed"


def test_a_response_over_the_limit_is_refused(tmp_path: Path, httpserver: HTTPServer) -> None:
    client = app_client(tmp_path, _limited_config())
    httpserver.expect_request("/big").respond_with_data("x" * 5000)

    def chunks() -> Any:
        for _ in range(50):
            yield b"y" * 100

    httpserver.expect_request("/streamed").respond_with_response(Response(chunks()))

    for path in ("/big", "/streamed"):
        _, answer = get(client, httpserver.url_for(path))
        assert answer["error"]["error_code"] == "ResponseTooLarge"
        assert answer["command_response"]["http_status"] == 200


def _limited_config() -> str:
    return CONFIG.replace(
        "[connectors.http.config.destinations]",
        "[connectors.http.config]\nmax_response_bytes = 1000\n\n[connectors.http.config.destinations]",
    )


def test_loopback_is_refused_by_default(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_json({})
    client = app_client(tmp_path, "")

    status, answer = get(client, httpserver.url_for("/"))

    assert status == 200
    assert answer["error"]["error_code"] == "DestinationBlocked"
    assert answer["command_response"]["http_status"] == 403
    assert len(httpserver.log) == 0


def test_a_redirect_to_the_metadata_address_is_refused(client: FlaskClient, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/r").respond_with_data(
        "", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )

    _, answer = get(client, httpserver.url_for("/r"))

    assert answer["error"]["error_code"] == "DestinationBlocked"
    assert "169.254.169.254" in answer["error"]["message"]


def test_endless_redirects_stop(client: FlaskClient, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/loop").respond_with_data("", status=302, headers={"Location": "/loop"})

    _, answer = get(client, httpserver.url_for("/loop"))

    assert answer["error"]["error_code"] == "TooManyRedirects"


def test_secrets_never_reach_logs_or_messages(
    client: FlaskClient, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/hook/s3cret-path-token").respond_with_data("no", status=500)
    url = httpserver.url_for("/hook/s3cret-path-token") + "?api_key=s3cret-query"

    with caplog.at_level(logging.INFO):
        _, answer = call(client, "http/PostRequestV2", secret_call(url))

    assert answer["error"]["error_code"] == "HttpError500"
    assert "s3cret" not in json.dumps(answer["error"]) + json.dumps(answer["spiff__logs"])
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("connector_proxy")]
    assert ours  # the call was logged, without its secrets
    assert "s3cret" not in "\n".join(ours)
    sent = httpserver.log[0][0]
    assert sent.authorization is not None and sent.authorization.password == "s3cret-password"


def secret_call(url: str) -> dict[str, Any]:
    return {
        "url": url,
        "headers": {"Authorization": "Bearer s3cret-header"},
        "basic_auth_username": "user",
        "basic_auth_password": "s3cret-password",
        "data": {"x": 1},
    }


def test_a_registration_answers_hook_id_is_read_by_json_pointer() -> None:
    from connector_proxy_http.inbound import _at

    answer = {"hook": {"ids": ["a", {"a/b": 7, "m~n": "x"}]}}
    assert _at(answer, "/hook/ids/1/a~1b") == 7 and _at(answer, "/hook/ids/1/m~0n") == "x"
    assert _at(answer, "/hook/ids/0") == "a" and _at(answer, "") == answer
    assert _at(answer, "/hook/ids/9") is None and _at(answer, "hook") is None
    assert _at("<html>", "/id") is None

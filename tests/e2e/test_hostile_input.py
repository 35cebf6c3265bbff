"""Bad input through the real daemon: each gets a 4xx or a declared code naming the field, never a crash.

Every body is sent as raw bytes, as a careless or hostile client would write
it (``NaN``, lone surrogates, 4,000-digit numbers), not as Python's json
would.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Response

from connector_proxy.testing import RunningDaemon

U = '"url": "http://127.0.0.1:9/"'  # never reached: each call below is refused before it is sent


def obj(*members: str) -> str:
    """A JSON object's text from its members' text (escapes such as \\ud800 stay as written)."""
    return "{" + ", ".join(members) + "}"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("root")
    (folder / "file.txt").write_text("hello")
    (folder / "sub").mkdir()
    os.mkfifo(folder / "fifo")
    return folder


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, root: Path) -> Iterator[RunningDaemon]:
    config = tmp_path_factory.mktemp("hostile") / "plugins.toml"
    config.write_text(
        '[server]\nlog_level = "warning"\n'
        "[limits]\nheader_timeout = 1\nbody_timeout = 1.0\nmax_body_bytes = 262144\n"
        "[connectors.http.config.destinations]\nallow_loopback = true\n"
        f'[connectors.os.config]\nroots = ["{root}"]\nsettable_env = ["GREETING"]\ntimeout = 10\n'
        "[connectors.os.config.programs.echo]\n[connectors.os.config.programs.sh]\n"
        "[connectors.os.config.programs.ls]\n"  # a pattern beside a path slot
        'args = ["-[al]+", {type = "path"}]\n'
        "[connectors.os.config.programs.seq]\n"  # a number in a range, a choice of flags
        'args = [{type = "integer", minimum = 1, maximum = 9}, {type = "enum", values = ["-w"]}]\n'
        f'[connectors.os.config.programs.python]\npath = "{sys.executable}"\n'
    )
    with RunningDaemon(config) as running:
        yield running


def send(daemon: RunningDaemon, command: str, text: str) -> requests.Response:
    body = text.encode()  # escapes such as \ud800 stay escapes: the daemon decodes them
    return requests.post(
        f"{daemon.url}/v1/do/{command}", data=body, headers={"Content-Type": "application/json"}, timeout=20
    )


# (command, body, the proxy's status, error_code, words the message must hold); the bodies are JSON
# text with escapes (\u0000, \ud800) left for the daemon to decode
REFUSED = [
    ("http/GetRequest", obj(U, '"timeout": NaN'), 400, "InvalidRequestBody", "NaN"),
    ("http/GetRequest", obj(U, '"timeout": Infinity'), 400, "InvalidRequestBody", "Infinity"),
    ("http/GetRequest", obj(U, '"timeout": 1e400'), 400, "InvalidRequestBody", "1e400"),
    ("http/GetRequest", obj(U, '"timeout": ' + "9" * 4000), 400, "InvalidRequestBody", "4000 digits"),
    ("http/GetRequest", obj(U, '"x": ' + "1" * 4300), 400, "InvalidRequestBody", "digits"),
    (
        "http/GetRequest",
        obj(U, '"attempts": 2.0'),
        400,
        "InvalidParameters",
        "attempts: must be of type integer",
    ),
    (
        "http/GetRequest",
        obj(U, '"headers": {"X-\u00e9": "a"}'),
        400,
        "InvalidParameters",
        "headers: every key",
    ),
    (
        "http/GetRequest",
        obj(U, '"headers": {"X-a\\r\\nB": "a"}'),
        400,
        "InvalidParameters",
        "headers: every key",
    ),
    ("http/GetRequest", obj(U, '"headers": {"": "a"}'), 400, "InvalidParameters", "headers: every key"),
    ("http/GetRequest", obj(U, '"headers": {"X-a": "\u4e2d"}'), 400, "InvalidParameters", "headers.X-a"),
    ("http/GetRequest", obj(U, '"headers": {"X-a": "a\\u0000b"}'), 400, "InvalidParameters", "headers.X-a"),
    (
        "http/GetRequest",
        '{"url": "http://127.0.0.1:9/\\ud800"}',
        400,
        "InvalidRequestBody",
        "url holds a lone surrogate",
    ),
    ("http/GetRequest", obj(U, '"params": {"q": "\\ud800"}'), 400, "InvalidRequestBody", "params.q"),
    ("http/PostRequest", obj(U, '"data": ["\\ud800"]'), 400, "InvalidRequestBody", "data.0"),
    (
        "http/GetRequest",
        obj(U, '"basic_auth_username": "a", "basic_auth_password": "\\udc00"'),
        400,
        "InvalidRequestBody",
        "basic_auth_password",
    ),
    ("http/GetRequest", '{"url": "http://127.0.0.1:99999/"}', 200, "InvalidUrl", "url:"),
    ("http/GetRequest", '{"url": "http://127.0.0.1:abc/"}', 200, "InvalidUrl", "url:"),
    ("http/GetRequest", '{"url": "http://xn--a.\u00e9\u00e9..example/"}', 200, "InvalidUrl", "url:"),
    ("http/GetRequest", '{"url": "http://@/"}', 200, "InvalidUrl", "url: it names no host"),
    ("os/RunCommand", '{"program": "echo", "args": ["a\\u0000b"]}', 400, "InvalidParameters", "args.0"),
    ("os/RunCommand", '{"program": "echo", "args": ["\\ud800"]}', 400, "InvalidRequestBody", "args.0"),
    (
        "os/RunCommand",
        '{"program": "echo", "env": {"GREETING": "a\\u0000"}}',
        400,
        "InvalidParameters",
        "env.GREETING",
    ),
    (
        "os/RunCommand",
        '{"program": "echo", "env": {"GREETING": "\\ud800"}}',
        400,
        "InvalidRequestBody",
        "env.GREETING",
    ),
    ("os/RunCommand", '{"program": "echo", "cwd": "a\\u0000"}', 400, "InvalidParameters", "cwd"),
    ("os/RunCommand", '{"program": "echo", "cwd": "file.txt"}', 200, "NotADirectory", "cwd 'file.txt'"),
    ("os/RunCommand", '{"program": "echo", "cwd": "missing"}', 200, "FileNotFound", "'missing'"),
    ("os/RunCommand", '{"program": "ec\\u0000ho"}', 400, "InvalidParameters", "program"),
    ("os/ReadFile", '{"path": "file\\u0000.txt"}', 400, "InvalidParameters", "path"),
    ("os/ReadFile", '{"path": "\\ud800"}', 400, "InvalidRequestBody", "path"),
    ("os/ReadFile", '{"path": "sub"}', 200, "NotAFile", "sub"),
    ("os/ReadFile", '{"path": "."}', 200, "NotAFile", "not a regular file"),
    ("os/WriteFile", '{"path": "file.txt/x", "content": "a"}', 200, "NotADirectory", "'file.txt/x'"),
    (
        "os/WriteFile",
        '{"path": "file.txt/x/y", "content": "a", "make_dirs": true}',
        200,
        "NotADirectory",
        "'file.txt/x/y'",
    ),
    ("os/WriteFile", '{"path": "sub", "content": "a"}', 200, "NotAFile", "'sub'"),
    ("os/WriteFile", '{"path": "x\\u0000", "content": "a"}', 400, "InvalidParameters", "path"),
    ("os/WriteFile", '{"path": "new.txt", "content": "\\ud800"}', 400, "InvalidRequestBody", "content"),
    ("os/WriteFile", obj('"path": "' + "n" * 300 + '"', '"content": "a"'), 200, "PathTooLong", "is too long"),
    ("os/ListDirectory", '{"path": "\\u0000"}', 400, "InvalidParameters", "path"),
    ("os/ListDirectory", '{"path": "file.txt"}', 200, "NotADirectory", "'file.txt'"),
    (
        "os/ListDirectory",
        obj('"path": "' + "n" * 5000 + '"'),
        400,
        "InvalidParameters",
        "path: must be at most 4096",
    ),
    ("os/DeleteFile", '{"path": "\\u0000"}', 400, "InvalidParameters", "path"),
]


@pytest.mark.parametrize(("command", "body", "status", "code", "words"), REFUSED)
def test_bad_input_gets_a_declared_code_naming_the_field(
    daemon: RunningDaemon, command: str, body: str, status: int, code: str, words: str
) -> None:
    answer = send(daemon, command, body)

    assert answer.headers["Content-Type"] == "application/json"
    error = answer.json()["error"]
    assert (answer.status_code, error["error_code"]) == (status, code), error
    assert words in error["message"]
    assert "Traceback" not in answer.text


@pytest.mark.parametrize(
    ("program", "args", "allowed"),
    [
        ("ls", ["-a", "sub"], True),
        ("ls", ["-a", ".."], False),  # [\w.-]+ would admit it; a path slot resolves it first
        ("ls", ["/etc"], False),
        ("seq", ["-w", "1", "9"], True),
        ("seq", ["10"], False),
        ("seq", ["0"], False),
        ("seq", ["-s"], False),
    ],
)
def test_typed_argument_slots_admit_what_they_name(
    daemon: RunningDaemon, program: str, args: list[str], allowed: bool
) -> None:
    body = {"program": program, "args": args}
    answer = requests.post(f"{daemon.url}/v1/do/os/RunCommand", json=body, timeout=20)

    error = answer.json()["error"]
    assert (error is None) if allowed else (error["error_code"] == "ArgumentNotAllowed"), error


@pytest.mark.parametrize("given", ["sub/../file.txt", "--color=always"])
def test_a_path_slot_hands_the_program_the_checked_path(
    daemon: RunningDaemon, root: Path, given: str
) -> None:
    body = {"program": "ls", "args": ["-l", given], "allow_nonzero": True}
    answer = requests.post(f"{daemon.url}/v1/do/os/RunCommand", json=body, timeout=20)

    ran = answer.json()["command_response"]["body"]
    assert str((root / given).resolve()) in ran["stdout"] + ran["stderr"]  # a path, never an option


def test_a_lone_surrogate_on_stdin_starts_no_child(daemon: RunningDaemon, root: Path) -> None:
    marker = root / "started"
    body = json.dumps({"program": "sh", "args": ["-c", f"touch {marker}; cat"], "stdin": "S"})
    body = body.replace('"S"', '"\\ud800"')  # a lone surrogate Python's json would not write

    answer = send(daemon, "os/RunCommand", body)

    assert answer.status_code == 400 and answer.json()["error"]["error_code"] == "InvalidRequestBody"
    assert not marker.exists()


def test_reading_a_fifo_is_refused_at_once(daemon: RunningDaemon) -> None:
    started = time.monotonic()
    answer = send(daemon, "os/ReadFile", '{"path": "fifo"}')

    assert answer.json()["error"]["error_code"] == "NotAFile"
    assert time.monotonic() - started < 2


def test_stdin_a_program_ignores_does_not_hold_the_call_past_its_timeout(daemon: RunningDaemon) -> None:
    body = {"program": "sh", "args": ["-c", "sleep 30"], "stdin": "x" * 200_000, "timeout": 1}
    started = time.monotonic()
    answer = requests.post(f"{daemon.url}/v1/do/os/RunCommand", json=body, timeout=20)

    assert answer.json()["error"]["error_code"] == "Timeout"
    assert time.monotonic() - started < 3


def test_a_descendant_that_leaves_the_session_neither_delays_nor_hides_the_output(
    daemon: RunningDaemon,
) -> None:
    # the descendant calls setsid and keeps stdout open for 10 s; the program itself ends at once
    script = "import os,sys,time\nif os.fork()==0:\n os.setsid(); time.sleep(10); os._exit(0)\nprint('done')"
    body = {"program": "python", "args": ["-c", script], "timeout": 8}
    started = time.monotonic()
    answer = requests.post(f"{daemon.url}/v1/do/os/RunCommand", json=body, timeout=20)

    assert answer.json()["command_response"]["body"]["stdout"] == "done\n"
    assert time.monotonic() - started < 2


def test_an_upstreams_nan_is_answered_as_strict_json(daemon: RunningDaemon, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/odd").respond_with_data(
        '{"a": NaN, "b": -Infinity, "c": 1.5}', content_type="application/json"
    )

    answer = requests.post(
        f"{daemon.url}/v1/do/http/GetRequest", json={"url": httpserver.url_for("/odd")}, timeout=20
    )

    body = json.loads(answer.text, parse_constant=_not_json)["command_response"]["body"]
    assert body == {"a": "NaN", "b": "-Infinity", "c": 1.5}


def test_an_answer_too_deep_to_write_is_a_declared_error(
    daemon: RunningDaemon, httpserver: HTTPServer
) -> None:
    deep = "<a>" * 5000 + "x" + "</a>" * 5000  # XML becomes a dict nested 5,000 deep
    httpserver.expect_request("/deep").respond_with_response(Response(deep, content_type="application/xml"))

    answer = requests.post(
        f"{daemon.url}/v1/do/http/GetRequest", json={"url": httpserver.url_for("/deep")}, timeout=20
    )

    assert answer.status_code == 500
    assert answer.json()["error"]["error_code"] == "UnrenderableAnswer"


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE"])
def test_other_methods_are_answered_405_in_json_with_allow(daemon: RunningDaemon, method: str) -> None:
    answer = requests.request(method, f"{daemon.url}/v1/commands", timeout=10)

    assert (answer.status_code, answer.headers["Content-Type"]) == (405, "application/json")
    assert answer.headers["Allow"] and answer.json()["error"]["error_code"] == "MethodNotAllowed"


def test_repeated_slashes_reach_the_route_without_a_redirect_page(daemon: RunningDaemon) -> None:
    answer = requests.get(f"{daemon.url}/v1//commands", allow_redirects=False, timeout=10)

    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    assert isinstance(answer.json(), list)


@pytest.mark.parametrize("limit", ["\u00b2", "-1", "0", "1001", "x"])
def test_a_bad_job_list_limit_is_a_400(daemon: RunningDaemon, limit: str) -> None:
    answer = requests.get(f"{daemon.url}/v1/jobs", params={"limit": limit}, timeout=10)

    assert answer.status_code == 400 and answer.json()["error"]["error_code"] == "BadRequest"


# -- slow and malformed clients (limits.header_timeout = 1, body_timeout = 1) ------------------------


def raw_request(daemon: RunningDaemon, head: bytes, then: float = 0) -> tuple[bytes, float]:
    """Send ``head``, wait for the answer (or the close); what came back and when."""
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=15) as raw:
        started = time.monotonic()
        raw.sendall(head)
        time.sleep(then)  # a duration, not an event: a client slow to send the rest
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
        return answer, time.monotonic() - started


POST = b"POST /v1/do/http/GetRequest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def test_a_body_that_does_not_arrive_in_time_is_408_and_the_connection_closed(daemon: RunningDaemon) -> None:
    answer, took = raw_request(daemon, POST + b"Content-Length: 100\r\n\r\n{")

    assert answer.startswith(b"HTTP/1.1 408")
    assert b'"RequestTimeout"' in answer
    assert 0.9 < took < 4


def test_a_trickling_body_is_cut_at_the_body_timeout(daemon: RunningDaemon) -> None:
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=15) as raw:
        started = time.monotonic()
        raw.sendall(POST + b"Content-Length: 100\r\n\r\n")
        for _ in range(30):  # a byte every 0.1 s: each read is quick, the whole is not
            try:
                raw.sendall(b" ")
            except OSError:
                break
            time.sleep(0.1)
        answer = raw.recv(65536)

    assert answer.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < 4


def test_headers_that_do_not_arrive_in_time_close_the_connection(daemon: RunningDaemon) -> None:
    answer, took = raw_request(daemon, b"GET /liveness HTTP/1.1\r\nHost: x\r\n")

    assert answer == b"" and took < 4


def test_an_absurd_chunk_size_is_refused_at_once(daemon: RunningDaemon) -> None:
    head = POST + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n"
    answer, took = raw_request(daemon, head)

    assert answer.startswith(b"HTTP/1.1 413") and b'"PayloadTooLarge"' in answer
    assert took < 0.9  # before the body timeout could have ended it


@pytest.mark.parametrize("chunks", [b"zz\r\nab\r\n0\r\n\r\n", b"5\r\nabcdefgh\r\n0\r\n\r\n"])
def test_a_malformed_chunked_body_is_a_400_in_json(daemon: RunningDaemon, chunks: bytes) -> None:
    answer, _took = raw_request(daemon, POST + b"Transfer-Encoding: chunked\r\n\r\n" + chunks)

    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 400 BAD REQUEST"
    assert re.search(rb'"error_code":"BadRequest"', rest)


def test_slow_clients_do_not_starve_liveness(daemon: RunningDaemon) -> None:
    slow = [socket.create_connection(("127.0.0.1", daemon.port)) for _ in range(60)]
    try:
        for index, client in enumerate(slow):
            client.sendall(
                b"GET /liveness HTTP/1.1\r\n" if index % 2 else POST + b"Content-Length: 9\r\n\r\n"
            )
        timings = []
        for _ in range(10):
            started = time.monotonic()
            assert requests.get(f"{daemon.url}/liveness", timeout=2).status_code == 200
            timings.append(time.monotonic() - started)
            time.sleep(0.2)  # a duration, not an event: probes spread over two seconds
        assert max(timings) < 0.5
    finally:
        for client in slow:
            client.close()


def _not_json(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"\xef\xbb\xbf" + obj(U).encode(), "byte order mark"),
        (obj(U).encode("utf-16"), "not UTF-8"),
        (obj(U).encode("utf-16-le"), "not valid JSON"),
        (obj(U, '"timeout": 1', '"timeout": 2').encode(), "'timeout' twice"),
        (obj(U, '"params": {"q": "a", "q": "b"}').encode(), "'q' twice"),
    ],
    ids=["bom", "utf-16", "utf-16-le", "duplicate key", "nested duplicate key"],
)
def test_a_body_rfc_8259_does_not_allow_is_refused(daemon: RunningDaemon, body: bytes, words: str) -> None:
    """JSON is UTF-8 without a byte order mark; a key named twice is ambiguous: which value is meant?"""
    answer = requests.post(
        f"{daemon.url}/v1/do/http/GetRequest",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=20,
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["error_code"] == "InvalidRequestBody"
    assert words in answer.json()["error"]["message"]

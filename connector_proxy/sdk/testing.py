"""Test helpers for connector authors: a command called through the daemon's application, and what
plays the other side of a call (a host's callback endpoint, an upstream that never answers).

    client = app_client(tmp_path, "[connectors.mine.config]\ntoken = 'env:TOKEN'\n", {"TOKEN": "t"})
    body = succeeded(client, "mine/DoIt", number=42)  # the body, checked against the output schema
    status, envelope = call(client, "mine/DoIt", {"number": "x"})  # any answer, as the host gets it
    answer = invoke(connector.commands["DoIt"], fake_context({"token": "t"}), {"number": 42})  # no daemon

``app_client`` (the daemon's application in the test's process) lives in
:mod:`connector_proxy.testing`, with the harness that starts the whole daemon
(``RunningDaemon``), the processes a test starts, and a SpiffWorkflow host as
the daemon meets it (``ServiceTaskHost``, ``MessageHost``): they build or
start the daemon, which the SDK does not import. Their old names here still
work, with a DeprecationWarning. Nothing here is imported by the daemon itself.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from connector_proxy.sdk.context import Context, TaskLog

if TYPE_CHECKING:
    from flask.testing import FlaskClient

    # the deprecated aliases below, typed
    from connector_proxy.testing import ASYNC_REFUSAL as ASYNC_REFUSAL
    from connector_proxy.testing import SERVE as SERVE
    from connector_proxy.testing import START_SECONDS_ENV as START_SECONDS_ENV
    from connector_proxy.testing import Message as Message
    from connector_proxy.testing import MessageHost as MessageHost
    from connector_proxy.testing import RunningDaemon as RunningDaemon
    from connector_proxy.testing import ServiceTaskHost as ServiceTaskHost
    from connector_proxy.testing import TaskOutcome as TaskOutcome
    from connector_proxy.testing import app_client as app_client
    from connector_proxy.testing import moto_server as moto_server
    from connector_proxy.testing import start_owned as start_owned
    from connector_proxy.testing import start_seconds as start_seconds
    from connector_proxy.testing import stop_all as stop_all
    from connector_proxy.testing import stop_owned as stop_owned

__all__ = [
    "CallbackReceiver",
    "SilentServer",
    "assert_answers_as_declared",
    "call",
    "completed",
    "fake_context",
    "free_port",
    "silent_server",
    "succeeded",
    "wait_until",
    "write_json",
]


def call(client: FlaskClient, command: str, payload: Any, **kwargs: Any) -> tuple[int, Any]:
    """POST ``payload`` to ``/v1/do/<command>``: the proxy's status and the JSON it answered."""
    response = client.post(f"/v1/do/{command}", json=payload, **kwargs)
    assert response.mimetype == "application/json"
    return response.status_code, response.get_json()


def completed(client: FlaskClient, command: str, **parameters: Any) -> dict[str, Any]:
    """The envelope of a call that completed (HTTP 200), with or without an error; an answer without
    an error is checked against the command's declared output schema (``output_schema``)."""
    status, answer = call(client, command, parameters)
    assert status == 200, answer
    envelope: dict[str, Any] = answer
    if envelope.get("error") is None and isinstance(envelope.get("command_response"), dict):
        assert_answers_as_declared(client, command, envelope["command_response"].get("body"))
    return envelope


def assert_answers_as_declared(client: FlaskClient, command: str, body: Any) -> None:
    """Fail naming the rule when ``body`` does not fit the command's declared output schema."""
    from jsonschema import Draft202012Validator  # the daemon's own dependency, loaded by tests only
    from referencing import Registry  # retrieves no $ref (the SDK cannot import validation.closed)

    declared = client.get(f"/v1/commands/{command}").get_json().get("output_schema")
    if declared is None:
        return
    problem = next(Draft202012Validator(declared, registry=Registry()).iter_errors(body), None)
    assert problem is None, (
        f"{command} answered outside its output schema: {problem.message if problem else ''}"
    )


def succeeded(client: FlaskClient, command: str, **parameters: Any) -> Any:
    """The body of a call that completed without an error."""
    envelope = completed(client, command, **parameters)
    assert envelope["error"] is None, envelope["error"]
    return envelope["command_response"]["body"]


def fake_context(
    config: Mapping[str, Any] | None = None, resources: Any = None, seconds: float = 5.0, **fields: Any
) -> Context:
    """A :class:`Context` for one call without the daemon: ``config`` as the connector's validated
    configuration, ``resources`` as its ``setup`` would build them, a deadline ``seconds`` away, and
    any other field of the context (``task_id=``, ``callback_url=``...) as given."""
    log = TaskLog(logging.getLogger("connector_proxy.sdk.testing"), fields.get("task_id"))
    return Context(dict(config or {}), resources, log, time.monotonic() + seconds, **fields)


def free_port() -> int:
    """A port nobody listens on at this moment, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SilentServer:
    """An upstream that accepts connections and never answers: the worst a destination can do."""

    def __init__(self, backlog: int = 512) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(backlog)
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                self._held.append(self._server.accept()[0])
            except TimeoutError:
                continue

    def open_connections(self) -> int:
        """Accepted connections the client has not closed yet."""
        return sum(_still_open(connection) for connection in list(self._held))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for connection in self._held:
            connection.close()
        self._server.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _still_open(connection: socket.socket) -> bool:
    """Read what the client sent (nobody will answer it) until its end, if it has come."""
    try:
        while connection.recv(65536, socket.MSG_DONTWAIT):
            continue
    except BlockingIOError:
        return True  # no end of stream: the client still holds the connection
    except OSError:
        return False
    return False


@contextmanager
def silent_server(backlog: int = 512) -> Iterator[str]:
    """A SilentServer's URL, for the tests that need nothing more."""
    with SilentServer(backlog) as server:
        yield server.url


def wait_until(check: Callable[[], Any], seconds: float = 30.0, what: str = "the condition") -> Any:
    """What ``check()`` returns once it is true: a test waits for the event (a state, a log line, a
    process gone), not for a time that is enough on a quiet machine only."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what} not within {seconds} s")


def write_json(handler: BaseHTTPRequestHandler, status: int, answer: Any) -> None:
    """A test server's JSON answer, whole, with its length (the daemon reads it like a real peer's)."""
    data = json.dumps(answer).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def whole_body(handler: BaseHTTPRequestHandler) -> bytes | None:
    """The request's body, or None when the client went away before sending all of it (killed
    mid-request): a real host's server never hands such a request to its route, so neither do we."""
    expected = int(handler.headers.get("Content-Length", "0"))
    body = handler.rfile.read(expected)
    if len(body) < expected:
        handler.close_connection = True
        return None
    return body


UNCAUGHT = "UncaughtServiceTaskError"  # the host's error_type for an error no boundary event caught


class CallbackReceiver:
    """A host's callback endpoint on 127.0.0.1, answering as spiff-arena's backend does: 200
    ``{"ok": true, "status": word}`` (``completed``, or ``retry_scheduled``); for an envelope whose
    error no boundary event of the model catches (its code not in ``catches``), 400
    ``unexpected_workflow_exception`` (``UncaughtServiceTaskError``): the host took it and failed the
    task. It records every PUT it takes; it can fail the first ``fail_first`` with 500, or ``refuse``
    every one with a status (400: the task no longer waits; 401: the credentials are wrong), or ask for
    ``api_key`` in the ``SpiffWorkflow-Api-Key`` or ``Authorization`` header as the host asks for a
    service account's."""

    def __init__(
        self,
        port: int = 0,
        fail_first: int = 0,
        word: str = "completed",
        refuse: int | None = None,
        api_key: str = "",
        catches: tuple[str, ...] = (),
    ) -> None:
        self.received: list[tuple[str, Any]] = []
        self.catches = catches  # error codes the model's boundary events catch
        self.attempts = 0
        self.word = word
        self.refuse = refuse
        self.api_key = api_key  # when set, a PUT whose credential does not carry it is refused 401
        self._fail_first = fail_first
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = whole_body(self)
                if body is None:
                    return
                with receiver._arrived:
                    receiver.attempts += 1
                    envelope = json.loads(body)
                    status, answer = receiver._answer(dict(self.headers), envelope)
                    if status == 200 or answer.get("error_type") == UNCAUGHT:
                        receiver.received.append((self.path, envelope))
                        receiver.headers = dict(self.headers)
                    receiver._arrived.notify_all()
                write_json(self, status, answer)

            def log_message(self, *_: object) -> None:
                return None

        self.headers: dict[str, str] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _answer(self, headers: dict[str, str], envelope: Any) -> tuple[int, Any]:
        offered = " ".join(headers.get(name, "") for name in ("Authorization", "SpiffWorkflow-Api-Key"))
        if self.api_key and self.api_key not in offered:
            return 401, {"error": "invalid api key", "error_code": "unauthorized"}
        if self.attempts <= self._fail_first:
            return 500, {"error_code": "internal_server_error"}
        if self.refuse == 400:
            return 400, {"error_code": "not_waiting_for_callback", "message": "the task is not waiting"}
        if self.refuse is not None:
            return self.refuse, {"error": "invalid api key", "error_code": "unauthorized"}
        error = envelope.get("error") if isinstance(envelope, dict) else None
        if (
            isinstance(error, dict)
            and self.word == "completed"
            and error.get("error_code") not in self.catches
        ):
            message = f"Received error code {error.get('error_code')!r}: {error.get('message')}"
            return 400, {
                "error_code": "unexpected_workflow_exception",
                "error_type": UNCAUGHT,
                "message": message,
            }
        return 200, {"ok": True, "status": self.word}

    def wait_for(self, count: int, seconds: float = 20) -> list[tuple[str, Any]]:
        """What arrived once ``count`` distinct paths have (or the time is up)."""
        with self._arrived:
            self._arrived.wait_for(lambda: len({path for path, _ in self.received}) >= count, seconds)
            return list(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# moved to connector_proxy.testing: they build or start the daemon (or play the host it delivers to)
MOVED = frozenset(
    {
        "ASYNC_REFUSAL",
        "Message",
        "MessageHost",
        "RunningDaemon",
        "SERVE",
        "START_SECONDS_ENV",
        "ServiceTaskHost",
        "TaskOutcome",
        "app_client",
        "moto_server",
        "start_owned",
        "start_seconds",
        "stop_all",
        "stop_owned",
    }
)


def __getattr__(name: str) -> Any:
    """The names that moved to :mod:`connector_proxy.testing` still work from here, with a
    DeprecationWarning naming their new home."""
    if name not in MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"connector_proxy.sdk.testing.{name} moved to connector_proxy.testing.{name}",
        DeprecationWarning,
        stacklevel=2,
    )
    from connector_proxy import testing  # a deprecated alias: the one upward import, declared

    return getattr(testing, name)

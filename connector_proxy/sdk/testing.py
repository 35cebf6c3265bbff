"""Test helpers for connector authors (and our own tests): the real daemon, and what it talks to.

    with RunningDaemon(config_path, site=my_test_site) as daemon:
        requests.post(f"{daemon.url}/v1/do/mine/DoIt", json={...})

    client = app_client(tmp_path, "[connectors.mine.config]\ntoken = 'env:TOKEN'\n", {"TOKEN": "t"})
    body = succeeded(client, "mine/DoIt", number=42)

``RunningDaemon`` is ``connector-proxy serve`` under gunicorn in a child
process; ``connector_proxy.testing.app_client`` is the same application in the
test's process (no server), quick for checking a command's validation, answers
and errors (``app_client`` here is its deprecated alias).
``SilentServer`` is an upstream that never answers, ``ServiceTaskHost`` what a
SpiffWorkflow backend makes of a call's answer, ``CallbackReceiver`` a
host's callback endpoint, ``MessageHost`` a host's message API (inbound
events), ``moto_server`` AWS as moto's server plays it over HTTP. Nothing here
is imported by the daemon itself.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    from flask.testing import FlaskClient

    from connector_proxy.testing import app_client  # the deprecated alias below, typed

__all__ = [
    "CallbackReceiver",
    "Message",
    "MessageHost",
    "RunningDaemon",
    "ServiceTaskHost",
    "SilentServer",
    "TaskOutcome",
    "app_client",
    "assert_answers_as_declared",
    "call",
    "completed",
    "free_port",
    "moto_server",
    "silent_server",
    "start_owned",
    "start_seconds",
    "stop_all",
    "stop_owned",
    "succeeded",
]

SERVE = [sys.executable, "-m", "connector_proxy", "serve"]
START_SECONDS_ENV = "CONNECTOR_PROXY_TEST_START_SECONDS"


def start_seconds() -> float:
    """How long a test waits for what it starts (a daemon, moto, a worker) to answer: the one setting
    ``CONNECTOR_PROXY_TEST_START_SECONDS``, else 60 s, 120 s under CI (``CI=true``): a busy machine
    starts slowly, and waiting longer costs nothing when it starts at once."""
    given = os.environ.get(START_SECONDS_ENV, "").strip()
    if given:
        return float(given)
    return 120.0 if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes") else 60.0


_owned: dict[int, subprocess.Popen[Any]] = {}  # what tests started, by process group; stop_all ends it


def start_owned(arguments: list[str], **options: Any) -> subprocess.Popen[Any]:
    """Start a program in a process group of its own, stopped with everything it started by
    :func:`stop_owned` or, whatever the test's end, :func:`stop_all` (at exit, or a conftest's)."""
    process: subprocess.Popen[Any] = subprocess.Popen(arguments, start_new_session=True, **options)  # noqa: S603
    _owned[process.pid] = process
    return process


def stop_owned(process: subprocess.Popen[Any], timeout: float = 30) -> int:
    """SIGTERM (a graceful stop) and wait up to ``timeout``; then SIGKILL to its whole process group,
    so nothing it started outlives it (a worker, a program, a grandchild)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        status = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        status = process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # its group bears its pid (start_new_session)
    _owned.pop(process.pid, None)
    return status


def stop_all() -> None:
    """Stop every process :func:`start_owned` started that is still owned: an interrupted run
    (Ctrl-C), a fixture that never reached its finalizer."""
    for pid, process in list(_owned.items()):
        if process.returncode is not None:  # reaped by its test already: its pid may be another's now
            _owned.pop(pid, None)
            continue
        stop_owned(process, timeout=5)


atexit.register(stop_all)


def free_port() -> int:
    """A port nobody listens on at this moment, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RunningDaemon:
    """The daemon under gunicorn in a child process, on a free port of 127.0.0.1.

    ``site`` folders are put on ``PYTHONPATH``, so connectors described by a
    ``*.dist-info`` there are discovered without being installed; ``python``
    is the interpreter it runs under (another virtual environment's, say), and
    ``cwd`` where it starts.
    """

    def __init__(
        self,
        config: Path,
        environ: Mapping[str, str] | None = None,
        site: tuple[Path, ...] = (),
        output: IO[bytes] | int | None = subprocess.DEVNULL,
        python: str | Path = sys.executable,
        cwd: str | Path | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **(environ or {})}
        if site:
            env["PYTHONPATH"] = os.pathsep.join(str(folder) for folder in site)
        self.started = time.perf_counter()
        self.process = start_owned(  # our own interpreter and module, no shell
            [str(python), *SERVE[1:], "--config", str(config), "--bind", f"127.0.0.1:{self.port}"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=cwd,  # `-m` reads modules from here first: another tree's daemon starts in that tree
        )

    def wait_ready(self, seconds: float | None = None, poll: float = 0.005) -> float:
        """Wait for ``/liveness`` to answer 200 (at most :func:`start_seconds`); the seconds since the
        process started."""
        seconds = start_seconds() if seconds is None else seconds
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the daemon exited early with status {self.process.returncode}")
            if self._answers():
                first_answer = time.perf_counter() - self.started
                self._wait_for_every_worker()
                return first_answer
            time.sleep(poll)
        raise RuntimeError(f"the daemon did not answer within {seconds} s")

    def _answers(self) -> bool:
        """One probe of ``/liveness``, its connection closed whatever happens: one left open by a failed
        attempt (kept alive by its exception's traceback) would hold a worker's graceful stop for
        ``limits.header_timeout``."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            connection.request("GET", "/liveness")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):  # not listening yet, or no worker up yet
            return False
        finally:
            connection.close()

    def _wait_for_every_worker(self, seconds: float = 5) -> None:
        """The first worker answers while the master still forks the others: wait until it is done."""
        deadline = time.monotonic() + seconds
        counts = [-1]
        while time.monotonic() < deadline and not (len(counts) > 3 and len(set(counts[-4:])) == 1):
            counts.append(len(self.worker_pids()))
            time.sleep(0.05)

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the master's children."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (graceful), then SIGKILL if it has not exited within ``timeout``; then whatever
        is left of its process group (workers, isolated workers, programs) is killed."""
        return stop_owned(self.process, timeout)

    def ready(self) -> Self:
        """:meth:`wait_ready`, stopping the daemon if it does not come up: never left running."""
        try:
            self.wait_ready()
        except BaseException:
            self.stop(timeout=5)
            raise
        return self

    def kill(self) -> None:
        """SIGKILL the workers and the master at once: a crash, with no chance to clean up."""
        for pid in [*self.worker_pids(), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()
        _owned.pop(self.process.pid, None)

    def __enter__(self) -> Self:
        return self.ready()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


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
def moto_server(seconds: float | None = None) -> Iterator[str]:
    """moto's server (``pip install 'moto[server]'``) on a free port of 127.0.0.1, its URL: AWS over
    real HTTP, boto3's whole wire path. Lambda runs without Docker."""
    port = free_port()
    seconds = start_seconds() if seconds is None else seconds
    server = start_owned(  # our own interpreter, moto's module
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_answer(f"{url}/moto-api/", time.monotonic() + seconds)
        _post_json(f"{url}/moto-api/config", {"lambda": {"use_docker": False}})
        yield url
    finally:
        stop_owned(server, timeout=10)


def _wait_for_answer(url: str, deadline: float) -> None:
    parts = urlsplit(url)
    while True:
        try:
            connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=1)
            connection.request("GET", parts.path)
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing answered at {url}") from None
            time.sleep(0.1)


def _post_json(url: str, document: Any) -> None:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
    connection.request("POST", parts.path, json.dumps(document), {"Content-Type": "application/json"})
    connection.getresponse().read()
    connection.close()


@contextmanager
def silent_server(backlog: int = 512) -> Iterator[str]:
    """A SilentServer's URL, for the tests that need nothing more."""
    with SilentServer(backlog) as server:
        yield server.url


def _whole_body(handler: BaseHTTPRequestHandler) -> bytes | None:
    """The request's body, or None when the client went away before sending all of it (killed
    mid-request): a real host's server never hands such a request to its route, so neither do we."""
    expected = int(handler.headers.get("Content-Length", "0"))
    body = handler.rfile.read(expected)
    if len(body) < expected:
        handler.close_connection = True
        return None
    return body


UNCAUGHT = "UncaughtServiceTaskError"  # the host's error_type for an error no boundary event caught


@dataclass
class TaskOutcome:
    """What became of a service task: ``completed`` (``result`` is its result variable), ``failed``
    (``error_code`` is the BPMN error raised) or ``waiting`` (a 202: a callback completes it)."""

    state: str
    result: Any = None
    error_code: str | None = None


class ServiceTaskHost:
    """What a SpiffWorkflow backend does with a proxy's answer to a service task, step by step as its
    ``ServiceTaskDelegate.call_connector`` does at spiff-arena d7678cf (no boundary event catches an
    error here): ``secrets`` holds what it stored from ``refreshed_token_set``, ``logs`` the
    ``spiff__logs`` lines it copied."""

    def __init__(self) -> None:
        self.secrets: dict[str, Any] = {}
        self.logs: list[str] = []

    def call(self, proxy_url: str, command: str, parameters: Mapping[str, Any]) -> TaskOutcome:
        """POST the call as the backend does (with its ``spiff__`` keys) and take the answer."""
        body = {
            **parameters,
            "spiff__process_instance_id": 1,
            "spiff__process_model_identifier": "tests/model",
            "spiff__task_id": "6f1c0d52-3f4f-4a49-9d9e-000000000001",
            "spiff__task_data": {},
            "spiff__callback_url": "http://127.0.0.1:9/v1.0/tasks/1/6f1c0d52/callback",
        }
        request = http.client.HTTPConnection(urlsplit(proxy_url).netloc, timeout=45)
        try:
            request.request(
                "POST", f"/v1/do/{command}", json.dumps(body), {"Content-Type": "application/json"}
            )
            answer = request.getresponse()
            return self.take(command, answer.status, answer.read().decode("utf-8", "replace"))
        finally:
            request.close()

    def take(self, command: str, status: int, text: str) -> TaskOutcome:
        """The backend's steps on one answer, in its order."""
        try:
            parsed: Any = json.loads(text or "{}")
        except ValueError:
            parsed = {"error": {"error_code": "ServiceTaskOperatorReturnedInvalidJsonError"}}
        if "spiff__logs" in parsed:
            self.logs.extend(str(line) for line in parsed["spiff__logs"])
            if "api_response" in parsed:  # the answer is replaced: a token set beside it is never seen
                parsed = parsed["api_response"]
        result: Any = parsed
        if "command_response_version" in parsed and parsed["command_response_version"] > 1:
            result = {**parsed["command_response"], "operator_identifier": command}
        failure = self._error_code(parsed, status)
        if failure is not None:
            return TaskOutcome("failed", error_code=failure)
        if status == 202:
            return TaskOutcome("waiting")
        if "refreshed_token_set" not in parsed:
            return TaskOutcome("completed", result)
        self.secrets[parsed["auth"]] = parsed["refreshed_token_set"]
        return TaskOutcome("completed", parsed["api_response"])

    @staticmethod
    def _error_code(parsed: Mapping[str, Any], status: int) -> str | None:
        """``check_for_errors``: the top level only."""
        code = None
        response = parsed.get("command_response")
        if parsed.get("command_response_version", 0) > 1 and isinstance(response, dict):
            upstream = response.get("http_status")
            if isinstance(upstream, int) and upstream >= 300:
                code = f"ServiceTaskHttpError{upstream}"
        error = parsed.get("error")
        if isinstance(error, dict) and "error_code" in error:
            return str(error["error_code"])
        if code is None and status >= 300:
            return "ServiceTaskOperatorReturnedBadStatusError"
        return code

    @staticmethod
    def callback_result(content: Mapping[str, Any]) -> Any:
        """What a task completed by callback stores in its result variable: ``command_response.body``
        only (JSON text with mimetype application/json is parsed)."""
        response = content["command_response"]
        body = response["body"]
        if isinstance(body, str) and response.get("mimetype") == "application/json":
            with contextlib.suppress(ValueError):
                return json.loads(body)
        return body


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
                body = _whole_body(self)
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
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

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


@dataclass(frozen=True)
class Message:
    """One message a MessageHost took: its name (colons as the host's URL has them), query and body."""

    name: str
    execution_mode: str | None
    message_instance_uuid: str | None
    payload: Any
    api_key: str | None
    request_id: str | None
    arrived: float  # time.time() when it arrived
    traceparent: str | None = None  # the W3C trace context it came with


ASYNC_REFUSAL = "async_mode_called_without_celery"  # a host without Celery, asked for asynchronous


class _BusyServer(ThreadingHTTPServer):
    request_queue_size = 128  # every daemon worker's pool may connect at once
    daemon_threads = True


class MessageHost:
    """A SpiffWorkflow host's ``POST /v1.0/messages/<name>`` on 127.0.0.1, as the real route answers.

    As measured on spiff-arena's backend: it checks ``SpiffWorkflow-Api-Key`` (401 otherwise); it
    keeps its answer per ``message_instance_uuid`` and replays it (a message taken is not taken
    twice, one refused is refused again); without ``celery`` it refuses ``execution_mode=
    asynchronous`` with 400 ``async_mode_called_without_celery`` and replays that uuid as a 202
    whose message instance ``failed``. It can answer 503 to the first ``fail_first`` attempts (not
    kept: the host was down) and ``refuse`` (a status, kept) to every message.
    """

    def __init__(
        self, api_key: str = "", fail_first: int = 0, refuse: int | None = None, celery: bool = False
    ) -> None:
        self.messages: list[Message] = []  # each taken once
        self._answers: dict[str, tuple[int, Any]] = {}  # by message_instance_uuid, replayed
        self.attempts = 0
        self.api_key = api_key
        self.fail_first = fail_first
        self.refuse = refuse
        self.celery = celery
        self._arrived = threading.Condition()
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real host's server
            disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

            def do_POST(self) -> None:
                body = _whole_body(self)
                if body is None:
                    return
                status, answer = host._take(self.path, dict(self.headers), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:
                return None

        self._server = _BusyServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/v1.0"  # what events.host_url names
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _take(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        parts = urlsplit(path)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        with self._arrived:
            self.attempts += 1
            if not parts.path.startswith("/v1.0/messages/"):
                return 404, {"error_code": "not_found"}
            if self.api_key and headers.get("SpiffWorkflow-Api-Key") != self.api_key:
                return 401, {"error_code": "invalid_token"}
            if self.attempts <= self.fail_first:
                return 503, {"error_code": "unavailable"}
            uuid = query.get("message_instance_uuid") or f"none-{self.attempts}"
            if uuid in self._answers:
                return self._answers[uuid]
            message = Message(
                unquote(parts.path.removeprefix("/v1.0/messages/")),
                query.get("execution_mode"),
                query.get("message_instance_uuid"),
                json.loads(body) if body else None,
                headers.get("SpiffWorkflow-Api-Key"),
                headers.get("X-Request-Id"),
                time.time(),
                headers.get("traceparent"),
            )
            status, answer = self._answer(message)
            # replayed as the host keeps it: its async-mode refusal stays as a failed message instance
            refused_async = answer.get("error_code") == ASYNC_REFUSAL
            self._answers[uuid] = (202, _instance(message, "failed")) if refused_async else (status, answer)
            return status, answer

    def _answer(self, message: Message) -> tuple[int, Any]:
        """The first answer to a uuid: refused, or taken (a process started or advanced)."""
        if message.execution_mode == "asynchronous" and not self.celery:
            return 400, {"error_code": ASYNC_REFUSAL, "message": "no celery here"}
        if self.refuse is not None:
            return self.refuse, {"error_code": "message_not_accepted", "message": "no process waits for it"}
        self.messages.append(message)
        self._arrived.notify_all()
        process = {"id": len(self.messages), "status": "complete"}
        return 200, {"task_data": message.payload, "process_instance": process}

    def wait_for(self, count: int, seconds: float = 20) -> list[Message]:
        """The messages taken once ``count`` have been (or the time is up)."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.messages) >= count, seconds)
            return list(self.messages)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _instance(message: Message, status: str) -> dict[str, Any]:
    """The host's answer for a message instance it keeps without running anything."""
    return {
        "message_instance": {
            "name": message.name,
            "status": status,
            "message_instance_uuid": message.message_instance_uuid,
        }
    }


def __getattr__(name: str) -> Any:
    """``app_client`` moved to :mod:`connector_proxy.testing` (it builds the daemon, which the SDK does
    not import); the old name still works, with a DeprecationWarning."""
    if name != "app_client":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        "connector_proxy.sdk.testing.app_client moved to connector_proxy.testing.app_client",
        DeprecationWarning,
        stacklevel=2,
    )
    from connector_proxy.testing import app_client  # a deprecated alias: the one upward import, declared

    return app_client


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

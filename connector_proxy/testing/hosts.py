"""A SpiffWorkflow host as the daemon meets it: what its backend makes of a service task's answer
(ServiceTaskHost), and its message API that inbound events are delivered to (MessageHost)."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from connector_proxy.sdk.testing import whole_body, write_json


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
                body = whole_body(self)
                if body is None:
                    return
                status, answer = host._take(self.path, dict(self.headers), body)
                write_json(self, status, answer)

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

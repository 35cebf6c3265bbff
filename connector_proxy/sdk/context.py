"""What a command receives (a Context) and what it gives back (a Result)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

# the running call's deadline, for waits deep in shared code (a pool's line) that get no Context
_RUNNING_DEADLINE: ContextVar[float | None] = ContextVar("connector_proxy_deadline", default=None)


@dataclass(frozen=True)
class RefreshedTokens:
    """A token set a command renewed (``ctx.refreshed``): the host stores it in its secret ``secret``."""

    secret: str
    token_set: Mapping[str, Any]
    given: str = ""  # token_fingerprint() of the set the command was handed: what the host still holds


@dataclass(frozen=True)
class CallIds:
    """Whose work this is: the request, and the host's process instance and task.

    Every log line written meanwhile carries them, and the SDK's outbound
    requests send the request id on as ``X-Request-Id``, so one call can be
    followed from the host through the proxy to the upstream and back.
    """

    request_id: str | None = None
    process_instance_id: int | None = None
    task_id: str | None = None


# per greenlet or thread: set by the web layer for a request, narrowed by the executor for a call
_CALL_IDS: ContextVar[CallIds] = ContextVar("connector_proxy_call_ids", default=CallIds())  # noqa: B039 - frozen


def call_ids() -> CallIds:
    """The ids of the work in progress here (all None outside a request or a job)."""
    return _CALL_IDS.get()


@contextmanager
def identified(ids: CallIds) -> Iterator[CallIds]:
    """Do some work under ``ids``; the previous ones come back after it."""
    token = bind_call_ids(ids)
    try:
        yield ids
    finally:
        unbind_call_ids(token)


def bind_call_ids(ids: CallIds) -> Token[CallIds]:
    """:func:`identified` for hooks that start and end work in two places (a request's)."""
    return _CALL_IDS.set(ids)


def unbind_call_ids(token: Token[CallIds]) -> None:
    _CALL_IDS.reset(token)


class TaskLog:
    """A logger whose lines go back to the host as ``spiff__logs``.

    Each line is also written to the daemon's log under the connector's name,
    so an operator sees what the modeler sees. Never log a secret here.
    """

    def __init__(self, logger: logging.Logger, task_id: str | None = None) -> None:
        self._logger = logger
        self._task_id = task_id
        self.lines: list[str] = []

    @property
    def logger(self) -> logging.Logger:
        """The daemon-side logger, for what must not reach the host (a crash's traceback)."""
        return self._logger

    def info(self, message: str, *args: object) -> None:
        self._emit(logging.INFO, message, args)

    def warning(self, message: str, *args: object) -> None:
        self._emit(logging.WARNING, message, args)

    def error(self, message: str, *args: object) -> None:
        self._emit(logging.ERROR, message, args)

    def _emit(self, level: int, message: str, args: tuple[object, ...]) -> None:
        text = message % args if args else message
        self.lines.append(f"[{logging.getLevelName(level)}] {text}")
        self._logger.log(level, "task %s: %s", self._task_id or "-", text)


@dataclass(frozen=True)
class Context:
    """Everything a command may use besides its parameters.

    ``config`` is the connector's validated configuration (secrets resolved);
    ``resources`` is what the connector's ``setup`` built once per worker
    (pooled clients and the like).
    """

    config: Mapping[str, Any]
    resources: Any
    log: TaskLog
    deadline: float
    task_data: Mapping[str, Any] = field(default_factory=dict)
    callback_url: str | None = None
    task_id: str | None = None
    process_instance_id: int | None = None
    process_model_identifier: str | None = None
    request_id: str | None = None  # the proxy's id of the request that started the call (X-Request-Id)
    settings: Mapping[str, Any] = field(default_factory=dict)  # a trigger's subscription settings
    # token sets an OAuth2 refreshed during the call; the host is told to store them
    refreshed: list[RefreshedTokens] = field(default_factory=list)

    def seconds_left(self) -> float:
        """Time until the deadline (``time.monotonic`` based), never negative."""
        return max(0.0, self.deadline - time.monotonic())

    @contextmanager
    def running(self) -> Iterator[Context]:
        """Run a command within this context: waits in shared code end by its deadline."""
        token = _RUNNING_DEADLINE.set(self.deadline)
        try:
            with identified(CallIds(self.request_id, self.process_instance_id, self.task_id)):
                yield self
        finally:
            _RUNNING_DEADLINE.reset(token)


def seconds_left_in_call() -> float | None:
    """Time left to the running command's deadline; None outside a command."""
    deadline = _RUNNING_DEADLINE.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


@dataclass(frozen=True)
class Result:
    """A command's answer: the body lands in the BPMN task's result variable.

    ``http_status`` is the upstream's status; the host treats >= 300 as a
    failure, so keep it truthful.
    """

    body: Any
    http_status: int = 200
    mimetype: str = "application/json"


@dataclass(frozen=True)
class Accepted(Result):
    """The command handed the work to a remote system, which will PUT the result to
    ``ctx.callback_url`` itself: the proxy answers 202 and keeps no job."""

    http_status: int = 202

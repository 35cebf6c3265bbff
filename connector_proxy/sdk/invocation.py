"""Running one command and sorting what came of it, written once.

The daemon runs in-process commands through :func:`invoke`, and so does our
worker for isolated ones; the daemon turns the value into its answer, the
worker into a protocol message. An isolated command is thereby answered
exactly like the same command in-process. Only the standard library is used
here, so an isolated connector's environment needs nothing more.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from connector_proxy.sdk.context import Context, Result
from connector_proxy.sdk.errors import CommandError, OutboundRefusal

if TYPE_CHECKING:
    from connector_proxy.sdk.connector import Command


@dataclass(frozen=True)
class Returned:
    """The command answered; a bare JSON value is wrapped as ``Result(body=...)``."""

    result: Result


@dataclass(frozen=True)
class Raised:
    """The command failed the way modelers catch: a :class:`CommandError`."""

    error: CommandError


@dataclass(frozen=True)
class Refused:
    """The SDK's outbound limits refused a call the command made (``kind``: ``busy`` or ``line_timeout``)."""

    kind: str
    reason: str


@dataclass(frozen=True)
class Crashed:
    """An unexpected exception escaped the command; its text stays in the log."""

    exception: str
    message: str


Invocation = Returned | Raised | Refused | Crashed


def invoke(command: Command, context: Context, parameters: dict[str, Any]) -> Invocation:
    """Run ``command`` with ``context`` and validated ``parameters``; never raises for the command's sake."""
    return guarded(context, command.name, lambda: command.function(context, **parameters))


def exception_name(error: BaseException) -> str:
    """The name a connector's exception is reported by: its class's, or, for what an isolated
    connector's worker raised (the daemon's ``WorkerRaised``), the one the worker named."""
    return str(getattr(error, "exception_name", type(error).__name__))


class ExitCalled(Exception):
    """A command called ``os._exit()`` in a process that serves other calls (see :func:`guard_exits`)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"os._exit({status}) called by a connector")


T = TypeVar("T")
_IN_COMMAND: ContextVar[bool] = ContextVar("connector_proxy_in_command", default=False)
_real_exit = os._exit
_guarded_pid: int | None = None


def guard_exits() -> None:
    """In a process that holds other calls (a daemon's worker): ``os._exit()`` called by a command, in
    the call's own thread, raises :class:`ExitCalled` and the call answers ``CommandCrashed``, rather
    than ending every call the process holds. A child the command forked, or a thread it started,
    exits for real (its exit is no one else's call); the master outlives that too."""
    global _guarded_pid
    _guarded_pid = os.getpid()
    os._exit = _exit_unless_in_command


def exits_refused(work: Callable[[], T]) -> T:
    """``work`` (a connector's import) run so that its ``os._exit()`` raises :class:`ExitCalled`, in a
    process where :func:`guard_exits` ran (the master discovering connectors, a reload)."""
    marked = _IN_COMMAND.set(True)
    try:
        return work()
    finally:
        _IN_COMMAND.reset(marked)


def _exit_unless_in_command(status: int) -> NoReturn:
    if _IN_COMMAND.get() and os.getpid() == _guarded_pid:
        raise ExitCalled(status)
    _real_exit(status)


def guarded(context: Context, what: str, work: Callable[[], Any]) -> Invocation:
    """Run a connector's code (a command, an isolated typeahead or trigger) within ``context`` and sort
    what came of it; never raises for its sake."""
    marked = _IN_COMMAND.set(True)
    try:
        with context.running():
            answer = work()
    except CommandError as error:
        return Raised(error)
    except OutboundRefusal as refusal:  # the SDK's own limit: no connector maps it
        return Refused(refusal.kind, refusal.reason)
    # a connector's bug must become an answer, not a dead worker: sys.exit() and a stray
    # KeyboardInterrupt too (a worker's own stop reaches it elsewhere: gevent's or gunicorn's handlers)
    except (Exception, SystemExit, KeyboardInterrupt) as error:
        name = exception_name(error)
        context.log.logger.exception("%s raised %s", what, name)
        return Crashed(name, str(error))
    finally:
        _IN_COMMAND.reset(marked)
    return Returned(answer if isinstance(answer, Result) else Result(body=answer))

"""The bulkhead: each origin's pool a hard limit, with a line for calls beyond it (the package's rule).

The pool classes override private methods of urllib3's ``HTTPConnectionPool`` (2.x, bounded in
pyproject.toml): ``_get_conn`` and ``_put_conn`` (the line), ``_make_request`` (the wait taken off
the read timeout, the request id, the span), and call its ``_new_conn`` for a slot handed over.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, cast

from urllib3 import HTTPHeaderDict, Timeout
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import EmptyPoolError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.connection import is_connection_dropped

from connector_proxy.sdk import tracing
from connector_proxy.sdk.context import call_ids, seconds_left_in_call
from connector_proxy.sdk.errors import OutboundRefusal

REQUEST_ID_HEADER = "X-Request-Id"
LINE_WAIT_OUTSIDE_CALL = 30.0  # seconds in line for code that runs outside any command's deadline


class DestinationBusy(EmptyPoolError, OutboundRefusal):
    """The origin is stuck at its limit; the daemon answers ``DestinationBusy``.

    An EmptyPoolError underneath, so urllib3 unwinds it without touching the pool.
    """

    kind = "busy"

    def __init__(self, pool: HTTPConnectionPool, limit: int, stuck_after: float) -> None:
        origin = _origin_of_pool(pool)
        reason = (
            f"{origin} has {limit} calls in flight in this worker and none started or ended"
            f" for {stuck_after:g} s"
        )
        super().__init__(pool, reason)
        self.origin, self.reason = origin, reason


class DestinationLineTimeout(EmptyPoolError, Urllib3Timeout, OutboundRefusal):
    """The call's deadline passed in line for a busy origin: a timeout to connectors that map urllib3's,
    else the daemon answers ``DestinationTimeout``."""

    kind = "line_timeout"

    def __init__(self, pool: HTTPConnectionPool, waited: float) -> None:
        origin = _origin_of_pool(pool)
        reason = f"no connection to {origin} came free within {waited:.3g} s"
        super().__init__(pool, reason)
        self.origin, self.reason = origin, reason


def _origin_of_pool(pool: HTTPConnectionPool) -> str:
    return f"{pool.scheme}://{pool.host}:{pool.port}"


class GuardedPool(HTTPConnectionPool):
    """A pool whose size is a hard limit, with a line for calls beyond it (the package's rule).

    A freed slot goes to the longest waiter, so a caller that just gave
    one back cannot take it again ahead of the line. Used through :func:`bound`, which gives it
    the policy's connection class and ``stuck_after``.
    """

    stuck_after = 10.0  # seconds at the limit with nothing moving before the origin counts as stuck

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_moved = time.monotonic()  # when a call last started or ended here
        self._line: deque[_Waiter] = deque()
        self._line_lock = threading.Lock()

    def _get_conn(self, timeout: float | None = None) -> HTTPConnection:
        with self._line_lock:
            if not self._line:
                try:
                    conn = cast(HTTPConnection, super()._get_conn(timeout=0))  # ConnectionCls is one
                    self.last_moved = time.monotonic()
                    conn.line_waited = 0.0  # type: ignore[attr-defined]
                    return conn
                except EmptyPoolError:
                    pass
            if self._stuck():
                raise DestinationBusy(self, self.pool.maxsize, self.stuck_after)  # type: ignore[union-attr]
            waiter = _Waiter()
            self._line.append(waiter)
        started = time.monotonic()
        conn = self._usable(self._wait(waiter, _line_budget(timeout)))
        conn.line_waited = time.monotonic() - started  # type: ignore[attr-defined]
        return conn

    def _make_request(self, conn: HTTPConnection, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """The call's time in line comes off its read timeout: the wait is part of its deadline.

        The request id of the work in progress goes along (``X-Request-Id``) unless the call set one.
        """
        request_id = call_ids().request_id
        if request_id is not None or tracing.active():
            headers = HTTPHeaderDict(kwargs.get("headers") or {})
            if request_id is not None:
                headers.setdefault(REQUEST_ID_HEADER, request_id)
            kwargs["headers"] = headers
        waited = getattr(conn, "line_waited", 0.0)
        given = kwargs.get("timeout")
        if waited and isinstance(given, Timeout) and isinstance(given.read_timeout, (int, float)):
            read = max(0.001, given.read_timeout - waited)
            kwargs["timeout"] = Timeout(total=given.total, connect=given.connect_timeout, read=read)
        if not tracing.active():
            return super()._make_request(conn, *args, **kwargs)
        method = str(args[0] if args else kwargs.get("method", "GET"))
        # the origin only: a URL's path and query may hold what a call carries
        where: dict[str, Any] = {
            "server__address": self.host,
            "server__port": self.port,
            "url__scheme": self.scheme,
        }
        with tracing.span(method, kind="client", http__request__method=method, **where):
            tracing.inject(kwargs["headers"])  # the upstream continues the trace
            response = super()._make_request(conn, *args, **kwargs)
            tracing.note(http__response__status_code=response.status)
            return response

    def _wait(self, waiter: _Waiter, budget: float) -> HTTPConnection | None:
        """Wait for a handed-over slot until the budget ends or the origin is stuck."""
        started = time.monotonic()
        while True:
            now = time.monotonic()
            until_stuck = self.last_moved + self.stuck_after - now
            waiter.ready.wait(max(0.0, min(started + budget - now, until_stuck)))
            with self._line_lock:
                if waiter.ready.is_set():
                    return waiter.conn
                if self._stuck():
                    self._line.remove(waiter)
                    raise DestinationBusy(self, self.pool.maxsize, self.stuck_after)  # type: ignore[union-attr]
                if time.monotonic() >= started + budget:
                    self._line.remove(waiter)
                    raise DestinationLineTimeout(self, budget)

    def _stuck(self) -> bool:
        return time.monotonic() - self.last_moved >= self.stuck_after

    def _put_conn(self, conn: HTTPConnection | None) -> None:  # type: ignore[override]
        with self._line_lock:
            self.last_moved = time.monotonic()
            if self._line:
                waiter = self._line.popleft()
                waiter.conn = conn
                waiter.ready.set()
                return
        super()._put_conn(conn)

    def _usable(self, conn: HTTPConnection | None) -> HTTPConnection:
        """What urllib3 does with a connection taken from the pool, for one handed over."""
        if conn is not None and is_connection_dropped(conn):
            conn.close()
        new: HTTPConnection = conn or self._new_conn()  # type: ignore[assignment]
        return new


class GuardedHTTPSPool(GuardedPool, HTTPSConnectionPool):
    """The same line, for https origins."""


def bound(pool: type[GuardedPool], connection: type[HTTPConnection], stuck_after: float) -> type[GuardedPool]:
    """``pool`` for one policy: its guarded connections and its ``stuck_after``. urllib3 makes a pool
    from its class alone (``pool_classes_by_scheme``), so what differs per policy is set on a subclass."""
    attributes = {"ConnectionCls": connection, "stuck_after": stuck_after, "__module__": __name__}
    return cast(type[GuardedPool], type(pool.__name__, (pool,), attributes))


def _line_budget(timeout: float | None) -> float:
    """How long a call may wait in line: the caller's pool timeout, else its command's deadline."""
    if timeout is not None:
        return timeout
    left = seconds_left_in_call()
    return LINE_WAIT_OUTSIDE_CALL if left is None else left


class _Waiter:
    __slots__ = ("conn", "ready")

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.conn: HTTPConnection | None = None

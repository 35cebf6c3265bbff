"""Outbound HTTP for connectors: pooled, bounded, and refused where the operator says.

The destination policy (``connector_proxy.sdk.destinations``) is checked on
the addresses a name resolves to, when each connection is opened, so a
redirect or a DNS answer that points inside the network is refused like a
direct call.

Connections are pooled per worker, and each origin (scheme, host, port) gets
at most ``max_concurrent`` of them at once (500 by default). The rule that
keeps a slow upstream served and a stuck one from piling up:

- below the cap, a call takes a connection at once;
- at the cap, a call waits in line (first come, first served) up to its own
  deadline, for as long as the origin is moving: a call to it started or
  ended within the last ``stuck_after`` seconds (10 by default);
- an origin at its cap with nothing moving for ``stuck_after`` seconds is
  stuck: new calls are refused at once with ``DestinationBusy`` (503,
  transient) and the calls in line leave with it, until a call to it ends;
- a call whose deadline passes in line ends with a timeout.

    session = pooled_session(DestinationPolicy.from_config(config["destinations"]))
    pool = pool_manager(policy)  # the same guards for code that speaks urllib3
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import BaseHTTPResponse, HTTPHeaderDict, PoolManager, Timeout
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    EmptyPoolError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.connection import create_connection, is_connection_dropped

from connector_proxy.sdk import tracing
from connector_proxy.sdk.context import call_ids, seconds_left_in_call
from connector_proxy.sdk.destinations import DestinationPolicy
from connector_proxy.sdk.errors import OutboundRefusal

REQUEST_ID_HEADER = "X-Request-Id"
LINE_WAIT_OUTSIDE_CALL = 30.0  # seconds in line for code that runs outside any command's deadline
KEPT_ORIGINS = 64  # pools of distinct origins kept per worker; the least used is closed first
READ_CHUNK = 64 * 1024


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


def origin_of(url: str) -> str:
    """``scheme://host[:port]``: all a message or a log line may show of a URL
    (its path, query and credentials may hold the host's secrets)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # named in an error message: it must not become a crash of its own
        return "(an unreadable URL)"
    return f"{parts.scheme}://{parts.hostname}{port}"


class BodyTooLarge(Exception):
    """The answer's body is over the caller's limit (declared, or as it arrived): not held."""


class BodyLate(Exception):
    """The answer's body had not all arrived by the caller's deadline."""


def read_body(response: BaseHTTPResponse, deadline: float, limit: int, declared_length: bool = True) -> bytes:
    """A streamed response's whole body by ``deadline`` (``time.monotonic()``) and within ``limit``
    bytes, however slowly it trickles: each read waits only for what is left of the time.

    A ``Content-Length`` over the limit is refused before a byte is read (``declared_length=False``
    for a HEAD answer, which declares a body it does not send). Raises BodyTooLarge or BodyLate;
    the caller releases the response (closed first when its body was not read to the end).
    """
    declared = response.headers.get("Content-Length", "")
    if declared_length and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body is declared {declared} bytes, over {limit}")
    chunks: list[bytes] = []
    size = 0
    while chunk := _next_chunk(response, deadline):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _next_chunk(response: BaseHTTPResponse, deadline: float) -> bytes:
    """What the socket has now (one read, not CHUNK bytes gathered), waiting no later than the deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise BodyLate("the body did not arrive in time")
    sock = getattr(response.connection, "sock", None)
    if sock is not None:
        sock.settimeout(left)  # the pool sets its own timeout again when the connection is reused
    try:
        return response.read1(READ_CHUNK)
    except Urllib3Timeout:  # the socket's wait, set to what was left, ran out
        raise BodyLate("the body did not arrive in time") from None


def failure_reason(error: BaseException) -> str:
    """Why a connection failed, in words a message may show: the innermost OS-level reason
    (``connection refused``), never a URL (urllib3's exceptions carry one, query and all)."""
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if "NameResolution" in type(current).__name__:
            return "the host name does not resolve"
        if isinstance(current, OSError) and current.strerror:
            return str(current.strerror).lower()
        linked = [*current.args, getattr(current, "reason", None), current.__cause__, current.__context__]
        pending.extend(item for item in linked if isinstance(item, BaseException))
    return "the connection failed"


def pooled_session(policy: DestinationPolicy, max_redirects: int = 5) -> requests.Session:
    """A requests Session whose every connection obeys ``policy``.

    Environment proxies and ``.netrc`` are ignored and cookies are never kept,
    so one task's call cannot leak into another's. A streamed response holds
    its origin's slot until it is read or closed: use it in a ``with`` block.
    """
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = max_redirects
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = _GuardedAdapter(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def pool_manager(policy: DestinationPolicy) -> PoolManager:
    """A urllib3 PoolManager with the same guards, for hot paths that skip requests.

    Release every response (``release_conn`` after reading, ``close`` first if
    the body was not read to its end): an unreleased one keeps its slot.
    """
    manager = PoolManager(num_pools=KEPT_ORIGINS, maxsize=policy.max_concurrent, block=True)
    manager.pool_classes_by_scheme = guarded_pools(policy)
    return manager


def guarded_pools(policy: DestinationPolicy) -> dict[str, type[HTTPConnectionPool]]:
    """Pool classes by scheme whose connections obey ``policy`` and whose size is a hard limit."""
    return {
        "http": _guarded_pool(HTTPConnectionPool, _guarded(HTTPConnection, policy), policy.stuck_after),
        "https": _guarded_pool(HTTPSConnectionPool, _guarded(HTTPSConnection, policy), policy.stuck_after),
    }


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, policy: DestinationPolicy) -> None:
        self._policy = policy
        maxsize = policy.max_concurrent
        super().__init__(pool_connections=KEPT_ORIGINS, pool_maxsize=maxsize, max_retries=0, pool_block=True)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = guarded_pools(self._policy)


def _guarded_pool(
    base: type[HTTPConnectionPool], connection: type[HTTPConnection], stuck_after: float
) -> type[Any]:
    class GuardedPool(base):  # type: ignore[valid-type,misc]
        """A pool whose size is a hard limit, with a line for calls beyond it (the module's rule).

        A freed slot goes to the longest waiter, so a caller that just gave
        one back cannot take it again ahead of the line.
        """

        ConnectionCls = connection

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.last_moved = time.monotonic()  # when a call last started or ended here
            self._line: deque[_Waiter] = deque()
            self._line_lock = threading.Lock()

        def _get_conn(self, timeout: float | None = None) -> HTTPConnection:
            with self._line_lock:
                if not self._line:
                    try:
                        conn: HTTPConnection = super()._get_conn(timeout=0)
                        self.last_moved = time.monotonic()
                        conn.line_waited = 0.0  # type: ignore[attr-defined]
                        return conn
                    except EmptyPoolError:
                        pass
                if self._stuck():
                    raise DestinationBusy(self, self.pool.maxsize, stuck_after)
                waiter = _Waiter()
                self._line.append(waiter)
            started = time.monotonic()
            conn = self._usable(self._wait(waiter, _line_budget(timeout)))
            conn.line_waited = time.monotonic() - started  # type: ignore[attr-defined]
            return conn

        def _make_request(self, conn: HTTPConnection, *args: Any, **kwargs: Any) -> Any:
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
            where = {"server__address": self.host, "server__port": self.port, "url__scheme": self.scheme}
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
                until_stuck = self.last_moved + stuck_after - now
                waiter.ready.wait(max(0.0, min(started + budget - now, until_stuck)))
                with self._line_lock:
                    if waiter.ready.is_set():
                        return waiter.conn
                    if self._stuck():
                        self._line.remove(waiter)
                        raise DestinationBusy(self, self.pool.maxsize, stuck_after)
                    if time.monotonic() >= started + budget:
                        self._line.remove(waiter)
                        raise DestinationLineTimeout(self, budget)

        def _stuck(self) -> bool:
            return time.monotonic() - self.last_moved >= stuck_after

        def _put_conn(self, conn: HTTPConnection | None) -> None:
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
            new: HTTPConnection = conn or self._new_conn()
            return new

    return GuardedPool


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


def _guarded(base: type[HTTPConnection], policy: DestinationPolicy) -> type[HTTPConnection]:
    scheme = "https" if issubclass(base, HTTPSConnection) else "http"

    class GuardedConnection(base):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            addresses = _resolve(self)
            for address in addresses:  # every answer, so no rebinding sneaks in
                policy.check(self.host, address, self.port, scheme)
            return _connect(self, addresses)

    return GuardedConnection


def _resolve(connection: HTTPConnection) -> list[str]:
    try:
        infos = socket.getaddrinfo(connection._dns_host, connection.port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise NameResolutionError(connection.host, connection, error) from error
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _connect(connection: HTTPConnection, addresses: list[str]) -> socket.socket:
    last: OSError | None = None
    for address in addresses:  # connect to the checked address, not a fresh lookup
        try:
            return create_connection(
                (address, connection.port or 80),
                connection.timeout,
                source_address=connection.source_address,
                socket_options=connection.socket_options,
            )
        except TimeoutError as error:
            raise ConnectTimeoutError(connection, f"Connection to {connection.host} timed out") from error
        except OSError as error:
            last = error
    raise NewConnectionError(connection, f"Failed to establish a new connection: {last}") from last

"""How the daemon waits: greenlets under gevent, so a slow upstream costs a socket, not a thread.

A service task spends nearly all its time waiting on an upstream. Under
gunicorn's gevent worker each call is a greenlet (a few KiB), so one worker
process holds hundreds of waiting calls; Flask, the synchronous SDK,
requests/urllib3, boto3, subprocesses and SQLite stay as they are, made
cooperative by gevent's patching of the standard library.

The patching must happen before anything imports ``socket``, ``ssl`` or
``threading`` users (the app is built in the master before the fork), so
``connector-proxy serve`` calls :func:`prepare` before importing the rest of
the daemon. ``server.worker_class = "gthread"`` keeps plain threads.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import socket
import struct
import sys
import termios
import threading
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any, TypeVar

GREEN = "gevent"
_READ = 1  # libev/libuv's EV_READ
T = TypeVar("T")
log = logging.getLogger(__name__)


def prepare(worker_class: str) -> None:
    """Make the standard library cooperative when the workers are green; idempotent."""
    if worker_class != GREEN:
        return
    from gevent import monkey

    if not monkey.is_module_patched("socket"):
        with _entry_points_read_once():
            monkey.patch_all()
    # a real thread doing CPU work (off_the_loop: a remote's catalog) hands the GIL back to the
    # event loop every 1 ms instead of 5: each of a request's system calls waits for it at most that
    sys.setswitchinterval(0.001)


@functools.cache  # asked on every call; patching happens once, before the first
def is_green() -> bool:
    """Whether this process runs on gevent (waits yield to other calls instead of blocking them)."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("socket"))


def off_the_loop(work: Callable[[], T]) -> T:
    """Run CPU-bound ``work`` (a big model's parse) where it does not stop the worker's other calls:
    under gevent in the hub's pool of real threads, which the interpreter switches away from every
    few milliseconds, so the event loop keeps answering; under threads it already is in one."""
    if not is_green():
        return work()
    import gevent

    return gevent.get_hub().threadpool.apply(work)  # type: ignore[no-any-return]


def within(seconds: float, work: Callable[[], T]) -> T:
    """``work``'s value if it finishes within ``seconds``, else ``TimeoutError``, leaving it to run on
    in a real thread (third-party code hanging in C or in a loop cannot be stopped, only left)."""
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as error:  # handed to the waiting caller, as if raised there
            outcome.append((False, error))

    if is_green():
        import gevent

        with contextlib.suppress(gevent.Timeout):  # the hub's real threads, not greenlets
            gevent.get_hub().threadpool.spawn(run).get(timeout=seconds)
    else:
        runner = threading.Thread(target=run, name="within", daemon=True)  # a daemon: exit never waits
        runner.start()
        runner.join(seconds)
    if not outcome:
        raise TimeoutError(f"not done within {seconds:g} s")
    finished, value = outcome[0]
    if not finished:
        raise value
    return value  # type: ignore[no-any-return]


def unless_client_leaves(client: socket.socket | None, work: Callable[[], T]) -> T:
    """Run ``work``, stopping it if the client hangs up first: its answer has nowhere to go.

    Under gevent the event loop watches the client's socket while the call
    runs (a bare I/O watcher: no greenlet per call, as this is on every
    call's path). When it turns readable, a read of nothing means the client
    closed, and the call is ended where it waits (``GreenletExit``, so
    ``finally`` blocks close its upstream socket or worker). A client sending
    more (a pipelined request) is left alone. Under threads a call ends at
    its deadline instead.
    """
    if client is None or not is_green():
        return work()
    import gevent

    caller = gevent.getcurrent()
    watcher = gevent.get_hub().loop.io(client.fileno(), _READ)
    watcher.start(_readable, watcher, client, caller)
    try:
        return work()
    finally:
        watcher.close()


def _readable(watcher: Any, client: socket.socket, caller: Any) -> None:
    """In the event loop, which must not block: count the bytes waiting instead of reading them."""
    import gevent

    watcher.stop()  # level-triggered: a pipelined request would wake us on every turn of the loop
    try:
        waiting = struct.unpack("i", fcntl.ioctl(client.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        waiting = 0  # the socket is gone already
    if waiting == 0:  # readable with nothing to read: the client closed (or reset) its end
        log.info("the client hung up: its call is ended")
        gevent.kill(caller)  # asynchronous: thrown into the caller where it waits


@contextlib.contextmanager
def reading_deadline(seconds: float, client: socket.socket | None) -> Iterator[None]:
    """Reads from the client inside end by ``seconds`` with ``TimeoutError``, however bytes trickle.

    Under gevent a timer ends the whole block (a trickle of one byte a second
    cannot stretch it); under threads each socket read waits at most
    ``seconds``, which is what a blocking socket allows.
    """
    if is_green():
        import gevent

        with gevent.Timeout(seconds, TimeoutError(f"not read within {seconds:g} s")):
            yield
    elif client is not None:
        previous = client.gettimeout()
        client.settimeout(seconds)
        try:
            yield
        finally:
            client.settimeout(previous)
    else:
        yield


@contextlib.contextmanager
def _entry_points_read_once() -> Iterator[None]:
    """gevent looks for plugins 25 times while patching, each time reading every installed
    distribution's metadata (~230 ms of start-up); one reading serves them all."""
    everything = metadata.entry_points()
    original = metadata.entry_points

    def selected(**criteria: Any) -> Any:  # EntryPoints, or Python 3.11's SelectableGroups
        return everything.select(**criteria) if criteria else everything

    metadata.entry_points = selected
    try:
        yield
    finally:
        metadata.entry_points = original

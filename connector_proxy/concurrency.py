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

import functools
import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any, TypeVar

GREEN = "gevent"
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


@functools.cache  # asked on every call; patching happens once, before the first
def is_green() -> bool:
    """Whether this process runs on gevent (waits yield to other calls instead of blocking them)."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("socket"))


def unless_client_leaves(client: socket.socket | None, work: Callable[[], T]) -> T:
    """Run ``work``, stopping it if the client hangs up first: its answer has nowhere to go.

    Under gevent a watcher waits for the client's socket to turn readable; a
    read of nothing means it closed, and the call is ended where it waits
    (``GreenletExit``, so ``finally`` blocks close its upstream socket or
    worker). A client sending more (a pipelined request) is left alone.
    Under threads a call ends at its deadline instead.
    """
    if client is None or not is_green():
        return work()
    import gevent

    watcher = gevent.spawn(_end_when_closed, client, gevent.getcurrent())
    try:
        return work()
    finally:
        watcher.kill(block=False)


def _end_when_closed(client: socket.socket, caller: Any) -> None:
    import gevent
    from gevent.socket import wait_read

    try:
        wait_read(client.fileno())
        closed = client.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        closed = True
    if closed:
        log.info("the client hung up: its call is ended")
        gevent.kill(caller)


@contextmanager
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

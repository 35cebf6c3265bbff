"""Leases: a claim on work that one process holds while it lives and that expires when it dies.

A poller's claim on its subscription (:mod:`connector_proxy.events.background`) and a running job's
claim (:mod:`connector_proxy.jobs.runner`) are both leases: an owner string naming the process, renewed
while it works, free again once it stops renewing. In Redis a lease is a key holding its owner with a
PX expiry, taken and renewed by one script; in SQLite a row with its owner and an ``until`` time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

log = logging.getLogger(__name__)
RENEW_EVERY = 1.0  # seconds between renewals by a lease's holder

# KEYS: the lease. ARGV: owner, milliseconds. 1 if taken or renewed.
HOLD = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
# KEYS: the lease. ARGV: owner. Deleted only if the owner holds it.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseLost(RuntimeError):
    """The lease passed to another (or expired) before the holder's write: the write is refused."""


def new_owner() -> str:
    """This process's name as a lease holder: host, pid (what recovery matches a dead process by), and
    a random part (a pid is reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_pid(owner: str) -> tuple[str, int] | None:
    """The host and pid an owner string names, or None if it is not one of ours."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    return (host, int(pid)) if pid.isdigit() else None


class Heartbeat:
    """A thread renewing this process's leases every second (``renew`` is one write for them all)."""

    def __init__(self, renew: Callable[[], None], name: str) -> None:
        self._renew = renew
        self._name = name
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name=self._name)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stopping.wait(RENEW_EVERY):
            try:
                self._renew()
            except Exception:  # the store is away: the leases run down; the next turn tries again
                log.warning("%s: could not renew this process's leases", self._name, exc_info=True)

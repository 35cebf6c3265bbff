"""A connector's workers inside one daemon process: checkout, replacement, backoff, health.

Each gunicorn worker keeps its own pool (processes and pipes must not cross
a fork), started when the worker starts. A worker lost to a crash, a limit, a
timeout or garbage is replaced at once, in the background; repeated failures to
start one back off (0, 0.5, 1 … 30 s), and meanwhile calls are refused at once
with ``WorkerUnavailable`` rather than left hanging.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from connector_proxy.config import NO_LIMITS, WorkerLimits
from connector_proxy.isolation.process import (
    HANDSHAKE_SECONDS,
    WorkerGone,
    WorkerOverLimit,
    WorkerProcess,
    WorkerTimedOut,
    memory_limited_by,
)
from connector_proxy.isolation.protocol import ProtocolError
from connector_proxy.sdk.retrying import backoff
from connector_proxy.telemetry.metrics import ISOLATED_WORKER_EVENTS, ISOLATED_WORKERS

log = logging.getLogger(__name__)
MAX_BACKOFF = 30.0


class WorkerUnavailable(Exception):
    """No worker could be had: they keep failing to start, or all stayed busy past the deadline."""


class WorkerPool:
    """Up to ``size`` workers of one isolated connector, owned by one daemon process.

    A call checks a worker out (starting one if there is room, waiting for a
    free one until its deadline otherwise) and back in; a worker that failed
    the call is killed and another started in its place at once; only starts that keep failing back off.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        config: Mapping[str, Any],
        size: int,
        cwd: Path | None = None,
        limits: WorkerLimits = NO_LIMITS,
    ) -> None:
        self.name = name
        self.command = tuple(command)
        self.config = dict(config)
        self.size = size
        self.cwd = cwd
        self.limits = limits
        self.generation = 0  # of the configuration: a worker configured with an older one is replaced
        self._reset()

    def _reset(self) -> None:
        self._owner = os.getpid()
        self._lock = threading.Condition()
        self._idle: list[WorkerProcess] = []
        self._live = 0
        self._failures = 0  # in a row; a successful call resets it
        self._start_after = 0.0
        self.stats = {
            "started": 0,
            "crashed": 0,
            "timed_out": 0,
            "protocol_errors": 0,
            "failed_to_start": 0,
            "over_limit": 0,
            "recycled": 0,
            "stopped_idle": 0,
        }
        self.last_error: str | None = None
        self._sweeping = threading.Event()  # set: the idle sweep stops

    def start(self) -> None:
        """Start the workers now rather than on the first calls (a gunicorn worker does, once up): all of
        them, or ``min_workers``; with ``idle_seconds``, a thread stops those idle that long."""
        self._same_process()
        if self.limits.idle_seconds:
            self._sweeping.clear()
            threading.Thread(target=self._sweep, daemon=True, name=f"{self.name}-idle").start()
        at_start = self.size if self.limits.min_workers is None else self.limits.min_workers
        for _ in range(at_start):
            try:
                worker = self._checkout(time.monotonic() + 30)
            except WorkerUnavailable:
                return
            self._checkin(worker)

    def call(
        self, command: str, parameters: Mapping[str, Any], context: Mapping[str, Any], deadline: float
    ) -> dict[str, Any]:
        """Run a command in a worker; its answer message."""
        request = {
            "type": "call",
            "command": command,
            "parameters": dict(parameters),
            "context": dict(context),
        }
        return self.ask(request, deadline)

    def ask(self, request: Mapping[str, Any], deadline: float) -> dict[str, Any]:
        """One request in one worker: checked out, asked, checked back in (or replaced if it failed)."""
        self._same_process()
        worker = self._checkout(deadline)
        try:
            answer = worker.ask(request, deadline)
        except (WorkerGone, WorkerTimedOut, ProtocolError) as error:
            worker.kill()
            self._lost(error)
            raise
        except BaseException:  # the caller was ended mid-call (its client hung up): the answer is stale
            worker.kill()
            self._discard()
            raise
        self._checkin(worker)
        return answer

    def health(self) -> dict[str, Any]:
        with self._lock:
            return {
                "size": self.size,
                "alive": self._live,
                "idle": len(self._idle),
                "pids": sorted(worker.pid for worker in self._idle),
                **self.stats,
                "last_error": self.last_error,
                "limits": {k: v for k, v in dataclasses.asdict(self.limits).items() if k != "cgroup"},
                "memory_limited_by": memory_limited_by(self.limits),  # a cgroup where there is one
            }

    def reconfigure(self, config: Mapping[str, Any]) -> WorkerPool:
        """Workers started from now on get ``config`` (a secret in it changed); those configured with
        the old one are replaced between calls. Itself: the connector's resources are the pool."""
        with self._lock:
            self.config = dict(config)
            self.generation += 1
        return self

    def close(self) -> None:
        self._sweeping.set()
        with self._lock:
            idle, self._idle = self._idle, []
            self._live -= len(idle)
        for worker in idle:
            worker.close()
        self._publish()

    def _same_process(self) -> None:
        if self._owner != os.getpid():
            self._reset()  # forked: the parent's workers are the parent's

    def _checkout(self, deadline: float) -> WorkerProcess:
        with self._lock:
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive and self._spent(worker):  # grew old while idle: a fresh one
                        self._recycle(worker)
                        continue
                    if worker.alive:
                        return worker
                    worker.kill()  # died while idle: reaped, its cgroup removed
                    self._live -= 1
                    self._publish()
                    self._note("crashed", f"worker {worker.pid} exited while idle")
                if self._live < self.size:
                    if time.monotonic() < self._start_after:
                        raise WorkerUnavailable(f"{self.name}: workers keep failing; {self.last_error}")
                    self._live += 1
                    break
                if not self._lock.wait(max(0.0, deadline - time.monotonic())):
                    raise WorkerUnavailable(f"{self.name}: all {self.size} workers stayed busy")
        return self._spawn()

    def _spawn(self) -> WorkerProcess:
        worker: WorkerProcess | None = None
        try:
            worker = WorkerProcess(self.name, self.command, cwd=self.cwd, limits=self.limits)
            worker.generation = self.generation
            worker.handshake(self.config)
        except Exception as error:  # a program that is missing, exits, or speaks another protocol
            if worker is not None:
                worker.kill()
            self._lost(error, starting=True)
            raise WorkerUnavailable(f"{self.name}: a worker could not start: {error}") from None
        with self._lock:
            self.stats["started"] += 1
            self._failures = 0  # starts back off only while they fail in a row
        ISOLATED_WORKER_EVENTS.labels(self.name, "started").inc()
        self._publish()
        log.info("connector %s: worker %s started", self.name, worker.pid)
        return worker

    def _discard(self) -> None:
        """A killed worker that did nothing wrong: its place is free for a fresh one."""
        with self._lock:
            self._live -= 1
            self._lock.notify()
        self._publish()

    def _checkin(self, worker: WorkerProcess) -> None:
        if self._spent(worker):
            self._recycle(worker)
            return
        worker.idle_since = time.monotonic()
        with self._lock:
            self._idle.append(worker)
            self._lock.notify()

    def _spent(self, worker: WorkerProcess) -> bool:
        """It answered max_calls, is older than max_age_seconds, or has an old configuration: replaced
        between calls."""
        too_old = (
            self.limits.max_age_seconds and time.monotonic() - worker.started > self.limits.max_age_seconds
        )
        stale = worker.generation != self.generation  # configured before a secret changed
        return stale or bool(self.limits.max_calls and worker.calls >= self.limits.max_calls) or bool(too_old)

    def _sweep(self) -> None:
        """Stop workers idle for idle_seconds, down to min_workers; until the pool closes."""
        idle_for = float(self.limits.idle_seconds or 0)
        while not self._sweeping.wait(min(idle_for / 2, 5.0)):
            keep = self.limits.min_workers or 0
            with self._lock:
                stale = [w for w in self._idle if time.monotonic() - w.idle_since > idle_for]
                leaving = stale[: max(0, self._live - keep)]
                for worker in leaving:
                    self._idle.remove(worker)
            for worker in leaving:
                self._recycle(worker, kind="stopped_idle")

    def _recycle(self, worker: WorkerProcess, kind: str = "recycled") -> None:
        """A worker spent (``recycled``) or idle too long (``stopped_idle``) leaves, in the background (no
        call waits on its exit), and its place is free for a fresh one."""
        threading.Thread(target=worker.close, daemon=True, name=f"{self.name}-recycle").start()
        with self._lock:
            self._failures = 0
            self.stats[kind] += 1
        ISOLATED_WORKER_EVENTS.labels(self.name, kind).inc()
        self._discard()

    def _lost(self, error: BaseException, starting: bool = False) -> None:
        kind = (
            "failed_to_start"
            if starting
            else "over_limit"
            if isinstance(error, WorkerOverLimit)
            else "timed_out"
            if isinstance(error, WorkerTimedOut)
            else "protocol_errors"
            if isinstance(error, ProtocolError)
            else "crashed"
        )
        with self._lock:
            self._live -= 1
            if starting:  # retried at once, then after 0.5, 1 … 30 s: the same for every process
                self._failures += 1
                failed = self._failures
                delay = 0.0 if failed == 1 else backoff(failed - 1, 0.5, MAX_BACKOFF, jitter=0)
                self._start_after = time.monotonic() + delay
            self._note(kind, f"{type(error).__name__}: {error}")
            self._lock.notify()
        ISOLATED_WORKER_EVENTS.labels(self.name, kind).inc()
        self._publish()
        log.warning("connector %s: worker lost (%s): %s", self.name, kind, error)
        if not starting:  # a call's loss (a crash, a limit, a timeout) is the worker's, not the program's
            threading.Thread(target=self._replace, daemon=True, name=f"{self.name}-replace").start()

    def _replace(self) -> None:
        """Start a worker in the lost one's place now, so the next caller does not wait for its start
        (or, if it fails, finds the backoff in force)."""
        with self._lock:
            if self._live >= self.size or self._idle:
                return
        try:
            worker = self._checkout(time.monotonic() + HANDSHAKE_SECONDS)
        except WorkerUnavailable:
            return
        self._checkin(worker)

    def _publish(self) -> None:
        """The live worker count, for /metrics (summed over every daemon worker process)."""
        ISOLATED_WORKERS.labels(self.name).set(self._live)

    def _note(self, kind: str, error: str) -> None:
        self.stats[kind] += 1
        self.last_error = error

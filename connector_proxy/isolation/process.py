"""One worker process: started in its own process group, handshaken, one call at a time.

On Linux the worker runs under the SDK's shepherd, as the os connector's programs do: a subreaper
that dies with the daemon's process, so whatever a call starts (even in a session of its own) is
killed when the call ends, and everything when the worker is stopped.

Reads never block past a deadline (select on the pipe), so a worker that
hangs, dies or writes garbage costs the call its documented error and the
worker its life, never a daemon thread.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from connector_proxy.config import NO_LIMITS, WorkerLimits
from connector_proxy.isolation.cgroups import WorkerCgroup, memory_cgroups
from connector_proxy.isolation.protocol import (
    ANSWERS,
    LATER,
    MAX_LINE,
    SUPPORTED,
    VERSION,
    ProtocolError,
    decode,
    encode,
)
from connector_proxy.sdk import shepherd
from connector_proxy.telemetry import logs

log = logging.getLogger(__name__)
HANDSHAKE_SECONDS = 30.0
SHEPHERDED = sys.platform == "linux"  # a subreaper shepherd holds each worker (connector_proxy.sdk.shepherd)
MAX_LOGGED = 8000  # characters of one stderr line kept: a runaway print must not flood the log


class WorkerGone(Exception):
    """The worker exited (or closed its stdout) before answering."""


class WorkerTimedOut(Exception):
    """No answer before the deadline; the worker has been killed."""


class WorkerOverLimit(WorkerGone):
    """The worker reached its memory or CPU limit during the call; it has been (or is) ended."""


class WorkerProcess:
    """One worker program in its own process group: handshake, one call at a time, kill.

    Every read waits on a deadline (select on the pipe), so a worker that
    hangs or writes half a line costs its call, never the daemon's thread.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        cwd: Path | None = None,
        limits: WorkerLimits = NO_LIMITS,
    ) -> None:
        self.name = name
        self.limits = limits
        self.calls = 0
        self.generation = 0  # which of its pool's configurations it was handed
        self.started = time.monotonic()
        self.idle_since = self.started
        self.cgroup = _cgroup_for(name, limits)
        rlimited = limits.memory_bytes if self.cgroup is None else 0  # where no cgroup limits it
        self.process = subprocess.Popen(  # noqa: S603 - the operator's configured program, no shell
            shepherd.command(_found(command, cwd), 0, rlimited or 0) if SHEPHERDED else list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills its children too
            cwd=cwd,
        )
        # the worker's own pid, once its shepherd has forked it (within milliseconds: the shepherd
        # stays out of the cgroup, so its memory is not counted against the worker's limit)
        self.pid = (shepherd.shepherded(self.process.pid) if SHEPHERDED else None) or self.process.pid
        self.protocol = VERSION  # until its hello says
        if self.cgroup is not None and not self.cgroup.place(self.pid):  # what it forks follows it in
            self.cgroup.remove()
            self.cgroup = None
        if rlimited and not SHEPHERDED:  # a shepherd sets it before the worker starts
            _limit(self.pid, "RLIMIT_AS", rlimited)
        self._buffer = b""
        self._next_id = 0
        threading.Thread(target=self._copy_stderr, daemon=True, name=f"{name}-stderr").start()

    def handshake(self, config: Mapping[str, Any] | None) -> dict[str, Any]:
        """Read the hello (and, given ``config``, configure); returns the connector's description."""
        hello = self._read(time.monotonic() + HANDSHAKE_SECONDS)
        if hello["type"] == "failed":
            raise ProtocolError(str(hello.get("message", "the worker failed to start")))
        if hello["type"] != "hello" or hello.get("protocol") not in SUPPORTED:
            raise ProtocolError(
                f"expected hello with protocol {' or '.join(map(str, SUPPORTED))}, got {hello['type']!r}"
            )
        self.protocol = int(hello["protocol"])
        if config is not None:
            self.configure(config)
        return self._understood(hello["connector"])

    def _understood(self, message: dict[str, Any]) -> dict[str, Any]:
        """A message as the worker's version means it: what a later version added is not read."""
        return message if self.protocol >= VERSION else {k: v for k, v in message.items() if k not in LATER}

    def configure(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Send the connector's configuration; it sets up and answers ready (or failed): the ready."""
        self._write({"type": "configure", "config": dict(config)})
        ready = self._read(time.monotonic() + HANDSHAKE_SECONDS)
        if ready["type"] != "ready":
            raise ProtocolError(str(ready.get("message", f"expected ready, got {ready['type']!r}")))
        return self._understood(ready)

    def ask(self, request: Mapping[str, Any], deadline: float) -> dict[str, Any]:
        """Send one request (a ``call``, a ``suggest``), numbered, and read its one answer."""
        self._next_id += 1
        self.calls += 1
        if self.limits.cpu_seconds:  # this call's CPU: from what the worker has used so far
            _limit(self.pid, "RLIMIT_CPU", math.ceil(_cpu_used(self.pid)) + self.limits.cpu_seconds)
        self._write({**request, "id": self._next_id})
        try:
            answer = self._read(deadline)
            if SHEPHERDED:  # nothing the call started outlives it, setsid or not
                shepherd.sweep(self.process.pid, self.pid)
        except WorkerGone:
            ended_by = self._ended_by()
            if ended_by == -signal.SIGXCPU:
                raise WorkerOverLimit(
                    f"the call used more than its {self.limits.cpu_seconds} s of CPU"
                ) from None
            if ended_by == -signal.SIGKILL and self.cgroup is not None and self.cgroup.ran_out():
                raise WorkerOverLimit(self._over_memory()) from None
            raise
        if (
            answer["type"] == "crash"
            and answer.get("exception") == "MemoryError"
            and self.limits.memory_bytes
        ):
            raise WorkerOverLimit(self._over_memory())
        if answer.get("id") != self._next_id or answer["type"] not in ANSWERS:
            raise ProtocolError(f"expected the answer to request {self._next_id}, got {answer['type']!r}")
        return answer

    def _over_memory(self) -> str:
        return f"the call needed more than the worker's {self.limits.memory_bytes} bytes"

    def _ended_by(self) -> int | None:
        """Its exit status once its output closed (a moment for the kernel to finish it)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.process.wait(timeout=1)
        return None

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if SHEPHERDED:  # it kills the worker and all it started, escaped or not; then its group goes
            shepherd.stop(self.process)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if self.cgroup is not None:
            self.cgroup.remove()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def close(self) -> None:
        """Ask it to leave (stdin closed), then make sure it has."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=2)
        self.kill()

    def _write(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(encode(message))
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise WorkerGone("the worker is gone") from None

    def _read(self, deadline: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise WorkerTimedOut("no answer before the deadline")
            readable, _, _ = select.select([descriptor], [], [], left)
            if not readable:
                continue
            chunk = os.read(descriptor, 65536)
            if not chunk:
                raise WorkerGone(f"the worker exited (status {self.process.wait()})")
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE:
                raise ProtocolError("a line over the size limit")
        line, _, self._buffer = self._buffer.partition(b"\n")
        return decode(line)

    def _copy_stderr(self) -> None:
        """A Python worker logs JSON records (re-logged as ours, call ids kept); any other line is text."""
        assert self.process.stderr is not None
        connector_log = logging.getLogger(f"connector_proxy.connectors.{self.name}")
        for line in iter(self.process.stderr.readline, b""):
            logs.relog(line.decode(errors="replace").rstrip()[:MAX_LOGGED], connector_log)


def _found(command: Sequence[str], cwd: Path | None) -> list[str]:
    """The command with its program found as Popen finds it (on PATH, or relative to ``cwd``), since
    its shepherd execs it without a search; a missing program raises here, as Popen would."""
    program = command[0]
    if "/" in program:
        path: str | None = str((cwd or Path.cwd()) / program)
    else:
        path = shutil.which(program)
    if path is None or not os.access(path, os.X_OK):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    return [path, *command[1:]]


def memory_limited_by(limits: WorkerLimits) -> str | None:
    """How ``memory_bytes`` is enforced here: ``cgroup v1``/``v2``, ``rlimit``, or None (no limit)."""
    if not limits.memory_bytes:
        return None
    found = memory_cgroups() if limits.cgroup else None
    return found.kind if found is not None else "rlimit"


def _cgroup_for(name: str, limits: WorkerLimits) -> WorkerCgroup | None:
    """A memory cgroup for a new worker, where memory_bytes is set and the daemon has one to give."""
    found = memory_cgroups() if limits.memory_bytes and limits.cgroup else None
    return found.make(name, limits.memory_bytes or 0) if found is not None else None


def _limit(pid: int, name: str, value: int) -> None:
    """A resource limit on a running worker (Linux's prlimit); elsewhere, none."""
    import resource

    with contextlib.suppress(ProcessLookupError, OSError, AttributeError):
        soft_and_hard = (value, value + 1) if name == "RLIMIT_CPU" else (value, value)  # SIGXCPU, not KILL
        resource.prlimit(pid, getattr(resource, name), soft_and_hard)


def _cpu_used(pid: int) -> float:
    """Seconds of CPU the process has used (user and system), from /proc; 0 where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

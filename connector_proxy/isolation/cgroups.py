"""A memory cgroup of its own for each isolated worker, where the daemon has one to give.

``RLIMIT_AS`` bounds a worker's address space, not the memory it holds: a JVM or
Node.js reserves far more than it touches, and a limit low enough to matter
stops it from starting. A cgroup bounds what the worker really holds, and at
the limit the kernel ends that worker alone. The daemon uses one when its own
cgroup lets it make children with the memory controller:

- cgroup v2: its cgroup (``/proc/self/cgroup``'s ``0::`` line) is writable and
  lists ``memory`` in ``cgroup.subtree_control`` (systemd: ``Delegate=yes``);
- cgroup v1: its cgroup in the ``memory`` hierarchy is writable (as root, or
  delegated).

Anywhere else, ``memory_bytes`` is an ``RLIMIT_AS`` as before.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
REMOVE_TRIES = 50  # of rmdir, 10 ms apart
_names = itertools.count(1)


@dataclass(frozen=True)
class WorkerCgroup:
    """One worker's cgroup: made with its limit, the worker placed in it, removed when it is gone."""

    path: Path
    version: int

    def place(self, pid: int) -> bool:
        """Move the worker in (just after it started); False if it could not be."""
        try:
            (self.path / "cgroup.procs").write_text(str(pid))
        except OSError:
            return False
        return True

    def ran_out(self) -> bool:
        """Whether the kernel's OOM killer ended a process of this cgroup."""
        events = "memory.events" if self.version == 2 else "memory.oom_control"
        with contextlib.suppress(OSError, ValueError):
            for line in (self.path / events).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
            if self.version == 1:  # kernels before 4.13 count no oom_kill: the limit was hit
                return int((self.path / "memory.failcnt").read_text()) > 0
        return False

    def remove(self) -> None:
        """Remove it once its processes are gone (rmdir of an empty cgroup). Just after its last
        process was reaped the kernel may still count it (EBUSY) for a moment: tried again briefly."""
        for _ in range(REMOVE_TRIES):
            try:
                self.path.rmdir()
            except FileNotFoundError:
                return
            except OSError as error:
                if error.errno != errno.EBUSY:
                    return
                time.sleep(0.01)
            else:
                return


@dataclass(frozen=True)
class MemoryCgroups:
    """Where this daemon process may make its workers' cgroups."""

    parent: Path
    version: int

    @property
    def kind(self) -> str:
        return f"cgroup v{self.version}"

    def make(self, connector: str, limit: int) -> WorkerCgroup | None:
        """A new cgroup holding at most ``limit`` bytes (no swap beyond it); None if it cannot be made."""
        path = self.parent / f"connector-proxy-{os.getpid()}-{connector}-{next(_names)}"
        limit_file, swap_file, swap = (
            ("memory.max", "memory.swap.max", 0)
            if self.version == 2
            else ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", limit)
        )
        try:
            path.mkdir()
            (path / limit_file).write_text(str(limit))
            if (path / swap_file).exists():  # swap accounting may be off: its file is absent then
                (path / swap_file).write_text(str(swap))
        except OSError:
            WorkerCgroup(path, self.version).remove()
            return None
        return WorkerCgroup(path, self.version)


@functools.cache
def memory_cgroups(proc: Path = Path("/proc/self/cgroup"), root: Path = ROOT) -> MemoryCgroups | None:
    """The cgroup this process may make memory-limited children in, found once; None if none."""
    try:
        lines = proc.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _id, controllers, path = line.split(":", 2)
        if controllers == "" and (root / "cgroup.controllers").exists():  # v2, mounted at the root
            found = root / path.lstrip("/")
            enabled = _read(found / "cgroup.subtree_control").split()
            if "memory" in enabled and os.access(found, os.W_OK):
                return MemoryCgroups(found, 2)
        elif "memory" in controllers.split(","):
            found = root / "memory" / path.lstrip("/")
            if os.access(found, os.W_OK) and (found / "memory.limit_in_bytes").exists():
                return MemoryCgroups(found, 1)
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""

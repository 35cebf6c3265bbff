"""Run one program so that nothing it starts outlives it (Linux): the os connector's programs and
isolated connectors' workers alike.

    python -I -S shepherd.py CPU_SECONDS MEMORY_BYTES PROGRAM [ARGS...]

The daemon starts this script instead of the program (:func:`command`). It dies with the process
that started it (``PR_SET_PDEATHSIG``: a daemon worker SIGKILLed takes its programs along), and
makes itself a subreaper (``PR_SET_CHILD_SUBREAPER``): a descendant that leaves the process
group (``setsid``, a daemonizing double fork) is reparented here when its
parent dies, not to init, so it can still be found. The shepherd sets the
CPU and memory limits, execs the program in a child, waits for it, then kills
every descendant left and exits with the program's own status (re-raising the
signal that ended it). On SIGTERM (the call's deadline) it kills them all at
once. Standard library only, no site, and its lightest modules (``_signal``, not
``signal`` and its enums): it starts in about ten milliseconds.

The functions after ``main`` are the starter's side: :func:`command`, :func:`stop` (the shepherd
kills all, then the group is killed) and, for a program that lives on between calls (an isolated
worker), :func:`sweep`, which ends what one call started and left running.
"""

import _signal  # type: ignore[import-not-found]  # signal without its enums: a faster start
import ctypes
import os
import sys

TYPE_CHECKING = False  # typing is not imported: a start ~5 ms faster (mypy reads this name as typing's)
if TYPE_CHECKING:
    import subprocess

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
GRACE = 2.0  # seconds a shepherd gets to kill all and exit before its process group is killed
ROUNDS = 64  # kill-and-reap passes: each one reaches the orphans the last one made


def main() -> None:
    cpu, memory, program = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    _signal.signal(_signal.SIGTERM, lambda *_: _finish(None, None))  # before the child: none to wait for
    libc.prctl(PR_SET_PDEATHSIG, _signal.SIGTERM, 0, 0, 0)  # its starter gone: end all (SIGTERM below)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if os.getppid() == 1:  # the starter died before PDEATHSIG was set: nobody waits for the program
        os._exit(1)
    child = os.fork()
    if child == 0:
        _become(program, cpu, memory)
    _signal.signal(_signal.SIGTERM, lambda *_: _finish(child, None))
    while True:
        pid, status = os.wait()  # reaps orphans handed to us too
        if pid == child:
            _finish(child, status)


def _become(program: list[str], cpu: int, memory: int) -> None:
    _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
    if cpu or memory:
        import resource

        if cpu:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        os.execv(program[0], program)  # noqa: S606 - the allowlisted program, an argument list, no shell
    except OSError as error:
        os.write(2, f"cannot run {program[0]}: {error.strerror}\n".encode())
        os._exit(127)


def _finish(child: int | None, status: int | None) -> None:
    """Kill every descendant still here, then end as the program ended (killed, at a deadline)."""
    _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)
    if status is None and child is not None:
        _kill(child)
    for _ in range(ROUNDS):
        if not _kill_children():
            break
    if status is None or os.WIFSIGNALED(status):
        ending = _signal.SIGKILL if status is None else os.WTERMSIG(status)
        if ending != _signal.SIGKILL:
            _signal.signal(ending, _signal.SIG_DFL)
        os.kill(os.getpid(), ending)
    os._exit(os.waitstatus_to_exitcode(status) if status is not None else 1)


def _kill_children() -> bool:
    """SIGKILL our children (a killed one's own children become ours) and reap them; False: none left."""
    found = _children()
    for pid in found:
        _kill(pid)
    for _ in found:
        try:
            os.wait()
        except ChildProcessError:
            break
    return bool(found)


def _children(of: int | None = None) -> list[int]:
    """A process's children (ours by default), from the kernel's list when it keeps one, else from
    every process's parent."""
    parent = os.getpid() if of is None else of
    try:
        found: list[int] = []
        for task in os.listdir(f"/proc/{parent}/task"):  # a child is listed under the thread that forked it
            with open(f"/proc/{parent}/task/{task}/children", "rb") as listed:
                found += [int(pid) for pid in listed.read().split()]
        return found
    except FileNotFoundError:
        return []  # the process is gone
    except OSError:  # a kernel without CONFIG_PROC_CHILDREN
        mine = str(parent)
        return [pid for pid in (int(n) for n in os.listdir("/proc") if n.isdigit()) if _parent(pid) == mine]


def _parent(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[1].decode()  # after the command's name
    except (OSError, IndexError):
        return None


def _kill(pid: int) -> None:
    try:
        os.kill(pid, _signal.SIGKILL)
    except ProcessLookupError:
        return  # gone already


def command(program: list[str], cpu_seconds: int = 0, memory_bytes: int = 0) -> list[str]:
    """``program`` under a shepherd, with its CPU and memory limits (0: none) set before it starts."""
    return [sys.executable, "-I", "-S", __file__, str(cpu_seconds), str(memory_bytes), *program]


def shepherded(shepherd: int, seconds: float = 5.0) -> int | None:
    """The program's pid: the shepherd's child once it has forked (None if it is gone first)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = _children(shepherd)
        if found:
            return found[0]
        if _parent(shepherd) is None:
            return None
        time.sleep(0.001)
    return None


def stop(process: "subprocess.Popen[bytes]") -> None:
    """End a shepherded program and all it started: SIGTERM to the shepherd (it kills every
    descendant, escaped ones included, and exits), then SIGKILL to what is left of its group."""
    import contextlib
    import subprocess

    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, _signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=GRACE)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, _signal.SIGKILL)  # the shepherd's group bears its pid (a new session)
    process.wait()


def sweep(shepherd: int, program: int) -> int:
    """Kill what a program that lives on (an isolated worker) started and left running: its
    descendants, and those already handed to its shepherd; the shepherd reaps them. How many."""
    found = [pid for pid in _children(shepherd) if pid != program]
    for _ in range(ROUNDS):
        below = _descendants(program)
        if not below:
            break
        found += below
        for pid in below:
            _kill(pid)
    for pid in found:
        _kill(pid)
    return len(set(found))


def _descendants(pid: int) -> list[int]:
    found, waiting = [], _children(pid)
    while waiting:
        child = waiting.pop()
        found.append(child)
        waiting += _children(child)
    return found


if __name__ == "__main__":
    main()

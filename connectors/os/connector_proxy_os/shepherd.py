"""Run one program so that nothing it starts outlives it (Linux).

    python -I -S shepherd.py CPU_SECONDS MEMORY_BYTES PROGRAM [ARGS...]

The daemon starts this script instead of the program. It makes itself a
subreaper (``PR_SET_CHILD_SUBREAPER``): a descendant that leaves the process
group (``setsid``, a daemonizing double fork) is reparented here when its
parent dies, not to init, so it can still be found. The shepherd sets the
CPU and memory limits, execs the program in a child, waits for it, then kills
every descendant left and exits with the program's own status (re-raising the
signal that ended it). On SIGTERM (the call's deadline) it kills them all at
once. Standard library only, no site, and its lightest modules (``_signal``, not
``signal`` and its enums): it starts in about ten milliseconds.
"""

import _signal  # type: ignore[import-not-found]  # signal without its enums: a faster start
import ctypes
import os
import sys

PR_SET_CHILD_SUBREAPER = 36
ROUNDS = 64  # kill-and-reap passes: each one reaches the orphans the last one made


def main() -> None:
    cpu, memory, program = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
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


def _finish(child: int, status: int | None) -> None:
    """Kill every descendant still here, then end as the program ended (killed, at a deadline)."""
    _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)
    if status is None:
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


def _children() -> list[int]:
    """Our children, from the kernel's list when it keeps one, else from every process's parent."""
    try:
        with open(f"/proc/self/task/{os.getpid()}/children", "rb") as listed:
            return [int(pid) for pid in listed.read().split()]
    except OSError:  # a kernel without CONFIG_PROC_CHILDREN
        mine = str(os.getpid())
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


if __name__ == "__main__":
    main()

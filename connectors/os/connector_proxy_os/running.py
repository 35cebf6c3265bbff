"""RunCommand and SpawnProcess: one allowlisted program, its argument list, never a shell.

The child gets a clean environment, its own process group (killed whole at
the timeout), capped output, and, where set, CPU and memory limits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from typing import IO, Annotated, Any

from connector_proxy.sdk import CommandError, Connector, Context, Result
from connector_proxy_os import errors
from connector_proxy_os.files import inside_roots
from connector_proxy_os.settings import OsResources, Program

CHUNK = 65536


def register(connector: Connector) -> None:
    @connector.command("RunCommand")
    def run_command(
        ctx: Context,
        program: str,
        args: list[str] | None = None,
        stdin: str | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        timeout: Annotated[float | None, {"exclusiveMinimum": 0}] = None,
        allow_nonzero: bool = False,
    ) -> Result:
        """Run an allowlisted program and answer its exit code, output and duration.

        Args:
            program: The program's name in the connector's programs table.
            args: Its arguments, passed as they are (no shell: $, ;, | and quotes mean nothing).
            stdin: Text given on its standard input.
            cwd: Its working directory, inside a configured root (default: the first root).
            env: Extra environment variables, among settable_env.
            timeout: Seconds before it is killed (capped by the connector's timeout and the deadline).
            allow_nonzero: Answer a non-zero exit as a result instead of the NonZeroExit error.
        """
        resources: OsResources = ctx.resources
        limit = min(timeout or resources.timeout, resources.timeout)
        return run(ctx, program, args or [], stdin, cwd, env or {}, limit, allow_nonzero)

    def spawn_process(ctx: Context, **parameters: Any) -> Result:
        resources: OsResources = ctx.resources
        limit = min(parameters.pop("timeout", None) or resources.spawn_timeout, resources.spawn_timeout)
        return run(ctx, timeout=limit, **_defaults(parameters))

    # the same parameters as RunCommand, written once; it always runs as a job
    connector.command(
        "SpawnProcess",
        asynchronous=True,
        parameters=connector.commands["RunCommand"].parameters,
        description="Start a long-running program: answered 202 at once, its result (as RunCommand's)"
        " PUT to the callback URL; timeout capped by spawn_timeout and the job's deadline.",
    )(spawn_process)


def _defaults(parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": parameters["program"],
        "args": parameters.get("args") or [],
        "stdin": parameters.get("stdin"),
        "cwd": parameters.get("cwd"),
        "env": parameters.get("env") or {},
        "allow_nonzero": parameters.get("allow_nonzero", False),
    }


def run(
    ctx: Context,
    name: str,
    args: list[str],
    stdin: str | None,
    cwd: str | None,
    env: dict[str, str],
    timeout: float,
    allow_nonzero: bool,
) -> Result:
    resources: OsResources = ctx.resources
    program = _allowed(resources, name, args)
    environment = _environment(resources, env)
    directory = inside_roots(resources, cwd) if cwd else (resources.roots[0] if resources.roots else None)
    timeout = min(timeout, ctx.seconds_left())
    started = time.monotonic()
    child = subprocess.Popen(  # noqa: S603 - an allowlisted absolute path, an argument list, no shell
        [program.path, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=directory,
        env=environment,
        start_new_session=True,  # its own process group: the timeout kills its children too
        close_fds=True,
    )
    _limit(child.pid, resources)
    ctx.log.info("started %s (pid %s)", name, child.pid)
    outcome = _supervise(child, stdin, timeout, resources)
    duration = round((time.monotonic() - started) * 1000)
    if outcome.timed_out:
        raise CommandError(
            errors.TIMEOUT, f"{name} ran past {timeout:g} s and was killed with its process group"
        )
    if outcome.overflowed and resources.fail_on_overflow:
        raise CommandError(errors.OUTPUT_TOO_LARGE, f"{name} wrote over {resources.max_output_bytes} bytes")
    body = {
        "exit_code": child.returncode,
        "stdout": outcome.stdout.decode(errors="replace"),
        "stderr": outcome.stderr.decode(errors="replace"),
        "stdout_truncated": outcome.stdout_truncated,
        "stderr_truncated": outcome.stderr_truncated,
        "duration_ms": duration,
    }
    if child.returncode != 0 and not allow_nonzero:
        raise CommandError(errors.NON_ZERO_EXIT, f"{name} exited with status {child.returncode}", body=body)
    return Result(body)


def _allowed(resources: OsResources, name: str, args: list[str]) -> Program:
    program = resources.programs.get(name)
    if program is None:
        raise CommandError(errors.PROGRAM_NOT_ALLOWED, f"{name!r} is not in the programs table")
    if len(args) > program.max_args:
        raise CommandError(errors.ARGUMENT_NOT_ALLOWED, f"{name} takes at most {program.max_args} arguments")
    if program.patterns is not None:
        for position, argument in enumerate(args):
            if not any(pattern.fullmatch(argument) for pattern in program.patterns):
                raise CommandError(
                    errors.ARGUMENT_NOT_ALLOWED, f"{name}: argument {position} matches no allowed pattern"
                )
    return program


def _environment(resources: OsResources, extra: dict[str, str]) -> dict[str, str]:
    refused = sorted(set(extra) - resources.settable_env)
    if refused:
        raise CommandError(errors.ENV_NOT_ALLOWED, f"not settable: {', '.join(refused)}")
    return {**resources.passthrough, **extra}


def _limit(pid: int, resources: OsResources) -> None:
    """CPU and memory limits, set on the child as it starts (Linux's prlimit)."""
    import resource

    with contextlib.suppress(ProcessLookupError, OSError, AttributeError):
        if resources.cpu_seconds:
            resource.prlimit(pid, resource.RLIMIT_CPU, (resources.cpu_seconds, resources.cpu_seconds))
        if resources.memory_bytes:
            resource.prlimit(pid, resource.RLIMIT_AS, (resources.memory_bytes, resources.memory_bytes))


class _Outcome:
    def __init__(self) -> None:
        self.stdout = b""
        self.stderr = b""
        self.stdout_truncated = False
        self.stderr_truncated = False
        self.timed_out = False
        self.overflowed = False


def _supervise(
    child: subprocess.Popen[bytes], stdin: str | None, timeout: float, resources: OsResources
) -> _Outcome:
    outcome = _Outcome()
    overflow = threading.Event()
    readers = [
        threading.Thread(
            target=_collect, args=(child.stdout, "stdout", outcome, resources.max_output_bytes, overflow)
        ),
        threading.Thread(
            target=_collect, args=(child.stderr, "stderr", outcome, resources.max_output_bytes, overflow)
        ),
    ]
    for reader in readers:
        reader.start()
    _feed(child, stdin)
    deadline = time.monotonic() + timeout
    while child.poll() is None:
        if time.monotonic() >= deadline:
            outcome.timed_out = True
            break
        if overflow.is_set() and resources.fail_on_overflow:
            break
        time.sleep(0.01)
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    else:
        with contextlib.suppress(ProcessLookupError):  # children it left behind go with it
            os.killpg(child.pid, signal.SIGKILL)
    for reader in readers:
        reader.join(5)
    outcome.overflowed = overflow.is_set()
    return outcome


def _feed(child: subprocess.Popen[bytes], stdin: str | None) -> None:
    assert child.stdin is not None
    with contextlib.suppress(BrokenPipeError, OSError):
        if stdin:
            child.stdin.write(stdin.encode())
        child.stdin.close()


def _collect(
    stream: IO[bytes] | None, name: str, outcome: _Outcome, limit: int, overflow: threading.Event
) -> None:
    """Keep the first ``limit`` bytes; read and drop the rest, so the child never blocks on a full pipe."""
    assert stream is not None
    kept = bytearray()
    for chunk in iter(lambda: stream.read1(CHUNK), b""):  # type: ignore[attr-defined]
        room = limit - len(kept)
        if len(chunk) > room:
            kept += chunk[: max(room, 0)]
            setattr(outcome, f"{name}_truncated", True)
            overflow.set()
        else:
            kept += chunk
    stream.close()
    setattr(outcome, name, bytes(kept))

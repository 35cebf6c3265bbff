"""RunCommand and SpawnProcess: one allowlisted program, its argument list, never a shell.

The child gets a clean environment, its own process group (killed whole at
the timeout), capped output, and, where set, CPU and memory limits. On Linux
it runs under a shepherd that is its subreaper: nothing it starts, not even a
descendant that left the group, outlives the call.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypedDict

from connector_proxy.sdk import CommandError, CommandGroup, Context, shepherd
from connector_proxy_os import errors
from connector_proxy_os.files import PathText, Text, inside_roots, os_errors
from connector_proxy_os.settings import OsResources, Program, Rule

commands = CommandGroup()

CHUNK = 65536


class Ran(TypedDict):
    """What a program did: RunCommand's and SpawnProcess's answer (and NonZeroExit's body)."""

    exit_code: int
    stdout: str  # decoded as UTF-8, undecodable bytes replaced; at most max_output_bytes kept
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    duration_ms: int


@commands.command("RunCommand")
def run_command(
    ctx: Context,
    program: Text,
    args: list[Text] | None = None,
    stdin: str | None = None,
    cwd: PathText | None = None,
    env: dict[str, Text] | None = None,
    timeout: Annotated[float | None, {"exclusiveMinimum": 0}] = None,
    allow_nonzero: bool = False,
) -> Ran:
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


@commands.typeahead("programs")
def programs(ctx: Context, prefix: str, limit: int) -> list[dict[str, str]]:
    """The programs table's names starting with the prefix: what RunCommand's program may be."""
    resources: OsResources = ctx.resources
    return [{"name": name} for name in sorted(resources.programs) if name.startswith(prefix)][:limit]


def spawn_process(ctx: Context, **parameters: Any) -> Ran:
    resources: OsResources = ctx.resources
    limit = min(parameters.pop("timeout", None) or resources.spawn_timeout, resources.spawn_timeout)
    return run(ctx, timeout=limit, **_defaults(parameters))


# the same parameters as RunCommand, written once; it always runs as a job
commands.command(
    "SpawnProcess",
    asynchronous=True,
    parameters=commands.commands["RunCommand"].parameters,
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
) -> Ran:
    resources: OsResources = ctx.resources
    program, args = _allowed(resources, name, args)
    environment = _environment(resources, env)
    directory = _directory(resources, cwd)
    given = stdin.encode() if stdin else b""  # before the child starts: a failure here leaves nothing behind
    timeout = min(timeout, ctx.seconds_left())
    started = time.monotonic()
    child = subprocess.Popen(  # noqa: S603 - an allowlisted absolute path, an argument list, no shell
        _shepherded([program.path, *args], resources),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=directory,
        env=environment,
        start_new_session=True,  # its own process group: the timeout kills its children too
        close_fds=True,
    )
    if not resources.contain_descendants:
        _limit(child.pid, resources)
    ctx.log.info("started %s (pid %s)", name, child.pid)
    outcome = _supervise(child, given, started + timeout, resources)
    duration = round((time.monotonic() - started) * 1000)
    if outcome.timed_out:
        raise CommandError(
            errors.TIMEOUT, f"{name} ran past {timeout:g} s and was killed with its process group"
        )
    if outcome.overflowed and resources.fail_on_overflow:
        raise CommandError(errors.OUTPUT_TOO_LARGE, f"{name} wrote over {resources.max_output_bytes} bytes")
    body: Ran = {
        "exit_code": child.returncode,
        "stdout": bytes(outcome.kept["stdout"]).decode(errors="replace"),
        "stderr": bytes(outcome.kept["stderr"]).decode(errors="replace"),
        "stdout_truncated": "stdout" in outcome.truncated,
        "stderr_truncated": "stderr" in outcome.truncated,
        "duration_ms": duration,
    }
    if child.returncode != 0 and not allow_nonzero:
        raise CommandError(errors.NON_ZERO_EXIT, f"{name} exited with status {child.returncode}", body=body)
    return body


def _directory(resources: OsResources, cwd: str | None) -> Path | None:
    if not cwd:
        return resources.roots[0] if resources.roots else None
    with os_errors(cwd):
        directory = inside_roots(resources, cwd)
        if not directory.is_dir():
            directory.stat()  # FileNotFound when it does not exist at all
            raise CommandError(errors.NOT_A_DIRECTORY, f"cwd {cwd!r} is not a directory")
    return directory


def _allowed(resources: OsResources, name: str, args: list[str]) -> tuple[Program, list[str]]:
    """The program and the arguments it is given (a path slot's argument resolved, as checked)."""
    program = resources.programs.get(name)
    if program is None:
        raise CommandError(errors.PROGRAM_NOT_ALLOWED, f"{name!r} is not in the programs table")
    if len(args) > program.max_args:
        raise CommandError(errors.ARGUMENT_NOT_ALLOWED, f"{name} takes at most {program.max_args} arguments")
    if program.rules is None:
        return program, args
    given = []
    for position, argument in enumerate(args):
        accepted = _first_accepting(program.rules, argument, resources)
        if accepted is None:
            raise CommandError(
                errors.ARGUMENT_NOT_ALLOWED, f"{name}: argument {position} fits none of the allowed ones"
            )
        given.append(accepted)
    return program, given


def _first_accepting(rules: tuple[Rule, ...], argument: str, resources: OsResources) -> str | None:
    for rule in rules:
        accepted = _accept(rule, argument, resources)
        if accepted is not None:
            return accepted
    return None


def _accept(rule: Rule, argument: str, resources: OsResources) -> str | None:
    """The argument as the program gets it if ``rule`` admits it, else None."""
    if isinstance(rule, re.Pattern):
        return argument if rule.fullmatch(argument) else None
    if rule.type == "enum":
        return argument if argument in rule.values else None
    if rule.type == "integer":
        if not re.fullmatch(r"-?[0-9]{1,18}", argument):
            return None
        number = int(argument)
        low = rule.minimum if rule.minimum is not None else number
        high = rule.maximum if rule.maximum is not None else number
        return argument if low <= number <= high else None
    try:  # a path: inside a root once resolved
        return str(inside_roots(resources, argument)) if argument else None
    except CommandError:
        return None


def _environment(resources: OsResources, extra: dict[str, str]) -> dict[str, str]:
    refused = sorted(set(extra) - resources.settable_env)
    if refused:
        raise CommandError(errors.ENV_NOT_ALLOWED, f"not settable: {', '.join(refused)}")
    return {**resources.passthrough, **extra}


def _shepherded(command: list[str], resources: OsResources) -> list[str]:
    """The program under its shepherd (:mod:`connector_proxy.sdk.shepherd`), which sets its CPU and
    memory limits before it starts and kills all it leaves behind, escaped descendants included."""
    if not resources.contain_descendants:
        return command
    return shepherd.command(command, resources.cpu_seconds or 0, resources.memory_bytes or 0)


def _limit(pid: int, resources: OsResources) -> None:
    """Without a shepherd: CPU and memory limits set on the child as it starts (Linux's prlimit)."""
    import resource

    with contextlib.suppress(ProcessLookupError, OSError, AttributeError):
        if resources.cpu_seconds:
            resource.prlimit(pid, resource.RLIMIT_CPU, (resources.cpu_seconds, resources.cpu_seconds))
        if resources.memory_bytes:
            resource.prlimit(pid, resource.RLIMIT_AS, (resources.memory_bytes, resources.memory_bytes))


@dataclass
class _Outcome:
    kept: dict[str, bytearray] = field(default_factory=lambda: {"stdout": bytearray(), "stderr": bytearray()})
    truncated: set[str] = field(default_factory=set)
    timed_out: bool = False

    @property
    def overflowed(self) -> bool:
        return bool(self.truncated)


def _supervise(
    child: subprocess.Popen[bytes], given: bytes, deadline: float, resources: OsResources
) -> _Outcome:
    """Feed stdin, collect output and wait, all in one loop under one deadline.

    The loop ends when the program has exited and its pipes are drained: a
    descendant that left the process group (``setsid``) and keeps stdout open
    neither delays the answer nor hides what the program wrote.
    """
    outcome = _Outcome()
    with selectors.DefaultSelector() as selector:
        _register(selector, child, given)
        pending = memoryview(given)
        while selector.get_map() and not _stopped(child, outcome, deadline, resources):
            for key, _events in selector.select(min(_POLL, max(deadline - time.monotonic(), 0))):
                if key.data == "stdin":
                    pending = _write(selector, key.fileobj, pending)
                else:
                    _read(selector, key.fileobj, key.data, outcome, resources.max_output_bytes)
        if not (outcome.overflowed and resources.fail_on_overflow):
            _await_exit(child, outcome, deadline)
        _end(child, selector, outcome, resources)
    return outcome


def _await_exit(child: subprocess.Popen[bytes], outcome: _Outcome, deadline: float) -> None:
    """Its exit status is its own: a program may close its pipes and exit a moment later, so it is
    waited for (until the deadline) before the group is killed, never killed at its pipes' end."""
    if outcome.timed_out:
        return
    try:
        child.wait(timeout=max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        outcome.timed_out = True


_POLL = 0.05  # how soon a program that exited while a descendant holds its pipes is noticed
_DRAIN_READS = 16  # a pipe holds at most 1 MiB (16 reads): what the program wrote before it ended


def _register(selector: selectors.BaseSelector, child: subprocess.Popen[bytes], given: bytes) -> None:
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    if given:
        os.set_blocking(child.stdin.fileno(), False)
        selector.register(child.stdin, selectors.EVENT_WRITE, "stdin")
    else:
        child.stdin.close()
    for name, stream in (("stdout", child.stdout), ("stderr", child.stderr)):
        os.set_blocking(stream.fileno(), False)
        selector.register(stream, selectors.EVENT_READ, name)


def _stopped(
    child: subprocess.Popen[bytes], outcome: _Outcome, deadline: float, resources: OsResources
) -> bool:
    if time.monotonic() >= deadline:
        outcome.timed_out = child.poll() is None
        return True
    if outcome.overflowed and resources.fail_on_overflow:
        return True
    return child.poll() is not None  # exited: what it wrote is drained below, without waiting for EOF


def _write(selector: selectors.BaseSelector, stream: Any, pending: memoryview) -> memoryview:
    try:
        pending = pending[os.write(stream.fileno(), pending[:CHUNK]) :]
    except BlockingIOError:
        return pending
    except OSError:  # the program closed its stdin (BrokenPipe): it does not want the rest
        pending = pending[:0]
    if not pending:
        selector.unregister(stream)
        stream.close()  # the end of its input
    return pending


def _read(selector: selectors.BaseSelector, stream: Any, name: str, outcome: _Outcome, limit: int) -> bool:
    """Keep the first ``limit`` bytes; read and drop the rest, so the child never blocks on a full pipe.

    False once nothing more is waiting (or the pipe is closed).
    """
    try:
        chunk = os.read(stream.fileno(), CHUNK)
    except BlockingIOError:
        return False
    if not chunk:
        selector.unregister(stream)
        return False
    kept = outcome.kept[name]
    room = limit - len(kept)
    if len(chunk) > room:
        outcome.truncated.add(name)
    kept += chunk[: max(room, 0)]
    return True


def _end(
    child: subprocess.Popen[bytes],
    selector: selectors.BaseSelector,
    outcome: _Outcome,
    resources: OsResources,
) -> None:
    """End all the program started (its shepherd kills even escaped descendants; then the process
    group is killed), then take what is left in the pipes without waiting for an end a stray
    descendant may hold back."""
    if resources.contain_descendants:  # the shepherd kills all, then exits; then what is left of the group
        shepherd.stop(child)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    for key in list(selector.get_map().values()):
        if key.data != "stdin":
            for _ in range(_DRAIN_READS):  # bounded: a stray descendant may write for ever
                if not _read(selector, key.fileobj, key.data, outcome, resources.max_output_bytes):
                    break
    for stream in (child.stdin, child.stdout, child.stderr):
        with contextlib.suppress(OSError):
            if stream is not None:
                stream.close()

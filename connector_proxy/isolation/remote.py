"""An isolated connector, as the registry sees it: a Connector whose commands call its pool.

Discovery asks one worker for its description (the handshake's hello), so the
catalog, validation and the envelope are the daemon's own, exactly as for an
in-process connector. ``setup`` configures that same probe worker (a failing
setup is reported at start-up), then hands each daemon process a pool.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connector_proxy.errors import WORKER_CRASHED, WORKER_PROTOCOL_ERROR, WORKER_TIMED_OUT, WORKER_UNAVAILABLE
from connector_proxy.isolation.pool import WorkerPool, WorkerUnavailable
from connector_proxy.isolation.process import WorkerGone, WorkerProcess, WorkerTimedOut
from connector_proxy.isolation.protocol import ProtocolError
from connector_proxy.sdk.auth import RefreshedTokens
from connector_proxy.sdk.connector import Command, CommandFunction, Connector
from connector_proxy.sdk.context import Accepted, Context, Result
from connector_proxy.sdk.errors import CommandError, ErrorCode

WORKER_ERRORS = (WORKER_CRASHED, WORKER_TIMED_OUT, WORKER_PROTOCOL_ERROR, WORKER_UNAVAILABLE)


class RemoteCrash(Exception):
    """An exception escaped the command in its worker; the daemon answers 500 with its class name."""

    def __init__(self, exception_name: str, message: str) -> None:
        super().__init__(message or exception_name)
        self.exception_name = exception_name


def worker_command(name: str, python: str | None, program: tuple[str, ...]) -> tuple[str, ...]:
    """Our worker under another interpreter, or the operator's program as given."""
    if program:
        return program
    return (python or sys.executable, "-m", "connector_proxy.isolation.worker", name)


def isolated_connector(name: str, command: tuple[str, ...], workers: int, cwd: Path | None) -> Connector:
    """Describe the connector by asking a worker; raises if it cannot (the caller reports it)."""
    probe = WorkerProcess(name, command, cwd=cwd)
    try:
        description = probe.handshake(None)
    except BaseException:
        probe.kill()
        raise
    if description.get("name") != name:
        probe.kill()
        raise ProtocolError(f"the worker describes connector {description.get('name')!r}, not {name!r}")

    def setup(config: Mapping[str, Any]) -> WorkerPool:
        try:
            probe.configure(config)
        finally:
            probe.close()
        return WorkerPool(name, command, config, workers, cwd)

    connector = Connector(
        name=name,
        description=str(description.get("description", "")),
        version=description.get("version"),
        config_schema=description.get("config_schema") or {"type": "object"},
        setup=setup,
    )
    for entry in description.get("commands", []):
        declared = tuple(
            ErrorCode(e["code"], e.get("description", ""), e.get("status")) for e in entry.get("errors", [])
        )
        connector.commands[entry["name"]] = Command(
            name=entry["name"],
            function=_forwarder(entry["name"], declared),
            parameters=entry.get("parameters") or {"type": "object"},
            description=str(entry.get("description", "")),
            errors=declared + WORKER_ERRORS,
            aliases=tuple(entry.get("aliases", ())),
            asynchronous=bool(entry.get("asynchronous", False)),
        )
    return connector


def _forwarder(command: str, declared: tuple[ErrorCode, ...]) -> CommandFunction:
    by_code = {code.code: code for code in declared}

    def forward(ctx: Context, **parameters: Any) -> Result:
        pool: WorkerPool = ctx.resources
        context = {
            "task_id": ctx.task_id,
            "process_instance_id": ctx.process_instance_id,
            "process_model_identifier": ctx.process_model_identifier,
            "task_data": dict(ctx.task_data),
            "callback_url": ctx.callback_url,
            "seconds_left": ctx.seconds_left(),
        }
        where = f"{pool.name}/{command}"
        try:
            answer = pool.call(command, parameters, context, ctx.deadline)
        except WorkerTimedOut:
            raise CommandError(
                WORKER_TIMED_OUT, f"{where} gave no answer by its deadline; its worker was replaced"
            ) from None
        except WorkerGone as gone:
            raise CommandError(WORKER_CRASHED, f"{where}: {gone}; the worker will be replaced") from None
        except ProtocolError as garbage:
            raise CommandError(
                WORKER_PROTOCOL_ERROR, f"{where}: {garbage}; the worker was replaced"
            ) from None
        except WorkerUnavailable as unavailable:
            raise CommandError(WORKER_UNAVAILABLE, str(unavailable)) from None
        ctx.log.lines.extend(str(line) for line in answer.get("logs", []))
        ctx.refreshed.extend(
            RefreshedTokens(str(r.get("secret")), r.get("token_set") or {})
            for r in answer.get("refreshed", [])
        )
        return _answer(answer, by_code)

    return forward


def _answer(answer: dict[str, Any], by_code: Mapping[str, ErrorCode]) -> Result:
    if answer["type"] == "result":
        kind = Accepted if answer.get("accepted") else Result
        return kind(
            answer.get("body"),
            int(answer.get("http_status", 200)),
            str(answer.get("mimetype", "application/json")),
        )
    if answer["type"] == "error":
        status = answer.get("http_status")
        code = by_code.get(str(answer.get("declared"))) or ErrorCode(
            str(answer.get("error_code")), "", status
        )
        raise CommandError(code, str(answer.get("message", "")), http_status=status, body=answer.get("body"))
    raise RemoteCrash(str(answer.get("exception", "Exception")), str(answer.get("message", "")))

"""The one path a call takes once it is past HTTP: look up, validate, run, wrap.

The web layer and the ``call`` command both end here, so a command behaves
the same whether a host or an operator invokes it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from connector_proxy.calls import envelope
from connector_proxy.calls.call import Call, check
from connector_proxy.calls.envelope import Envelope
from connector_proxy.calls.registry import BoundCommand, Registry
from connector_proxy.calls.timed import Timed
from connector_proxy.config import LimitSettings
from connector_proxy.host import error_codes
from connector_proxy.oauth.renewed_tokens import Renewals
from connector_proxy.sdk import tracing
from connector_proxy.sdk.context import (
    Accepted,
    Context,
    RefreshedTokens,
    TaskLog,
    call_ids,
    identified,
)
from connector_proxy.sdk.errors import CommandError, ErrorCode
from connector_proxy.sdk.invocation import Crashed, Invocation, Raised, Refused, Returned
from connector_proxy.telemetry import metrics

ACCEPTED = 202  # answered now, the result comes later (a job, or a remote system calling the host)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """The proxy's own HTTP status and the envelope it answers with."""

    status: int
    envelope: Envelope
    kind: str = metrics.PROXY_ERROR  # ok, upstream_error (the command's own error) or proxy_error


class Executor:
    """Runs commands from the registry within the configured limits."""

    def __init__(self, registry: Registry, limits: LimitSettings, renewals: Renewals | None = None) -> None:
        self.registry = registry
        self.limits = limits
        self.renewals = renewals or Renewals(None, 0.0)

    def read(self, command_id: str, body: Any) -> Call:
        """The call of ``command_id``, its command looked up here, once."""
        return Call.read(command_id, body, self.registry.find(command_id))

    def run(self, call: Call, timeout: float | None = None, answers_host: bool = False) -> Outcome:
        """Run one call and log its outcome (never its parameters: they may hold secrets).

        ``timeout`` replaces ``limits.command_timeout`` (jobs have their own deadline).
        ``answers_host``: the outcome is the host's synchronous answer, which can carry a renewed
        token set (a job's callback cannot: the set is kept for a later answer).
        """
        parameters, handed = self.renewals.hand_in(call.parameters)
        if handed:
            call = call.with_parameters(parameters)
        outcome, refreshed = self._run_logged(call, timeout)
        outstanding = self.renewals.outstanding(handed, refreshed)
        if not outstanding:
            return outcome
        carried = outstanding[-1] if answers_host and outcome.status == 200 else None
        # the host stores the set only from an answer that completes the task; else it is kept here
        self.renewals.settle(outstanding, carried if carried and _completes(outcome.envelope) else None)
        if carried is None:
            return outcome
        answer = envelope.with_refreshed_tokens(outcome.envelope, carried, call.command_id)
        return Outcome(outcome.status, answer, outcome.kind)

    def _run_logged(self, call: Call, timeout: float | None) -> tuple[Outcome, list[RefreshedTokens]]:
        bound = call.command
        traced = call.traced() if tracing.active() else {}
        with (
            identified(call.ids(call_ids().request_id)),
            tracing.span(f"call {bound.id if bound else 'unknown'}", **traced),
            Timed(log, call.command_id, *((bound.connector, bound.command.name) if bound else ())) as timed,
        ):
            outcome, refreshed = self._run(call, timeout or self.limits.command_timeout)
            error = outcome.envelope["error"]
            if error:
                tracing.note(
                    connector_proxy__error_code=error["error_code"], connector_proxy__outcome=outcome.kind
                )
                tracing.failed(error["error_code"])
            timed.done(outcome.status, outcome.kind, error["error_code"] if error else "")
        return outcome, refreshed

    def check(self, call: Call) -> BoundCommand | Outcome:
        """The command a call names if the call is valid for it, else the refusal to answer."""
        bound = call.command
        if bound is None:
            return rejected(self._missing(call.command_id))
        try:
            check(call, bound.validator)
        except CommandError as error:
            return rejected(error)
        return bound

    def _missing(self, command_id: str) -> CommandError:
        """Why no command has this id: its connector is left out (503, retried), or none offers it."""
        status = self.registry.left_out(command_id.partition("/")[0])
        if status is None:
            return error_codes.command_not_found(command_id)
        return error_codes.connector_unavailable(command_id, status.state)

    def _run(self, call: Call, timeout: float) -> tuple[Outcome, list[RefreshedTokens]]:
        """The outcome, and the token sets the command renewed on the way."""
        with tracing.span("validate"):
            checked = self.check(call)
        if isinstance(checked, Outcome):
            return checked, []
        context = self._context(checked, call, timeout)
        if checked.command.deprecated is not None:
            _warn_deprecated(checked, context)
        with tracing.span(f"command {checked.id}"):
            invocation = checked.run(context, {**checked.defaults, **call.parameters})
        return _outcome(checked, invocation, context.log.lines), context.refreshed

    def _context(self, bound: BoundCommand, call: Call, timeout: float) -> Context:
        host = call.host
        return Context(
            **bound.live.in_use(),  # one pair, even across a secret's refresh
            log=TaskLog(bound.logger, host.task_id),
            deadline=time.monotonic() + timeout,
            task_data=host.task_data,
            callback_url=host.callback_text,
            task_id=host.task_id,
            process_instance_id=host.process_instance_id,
            process_model_identifier=host.process_model_identifier,
            request_id=call_ids().request_id,
        )


def _warn_deprecated(bound: BoundCommand, context: Context) -> None:
    """The model's author reads it in the task's logs; the operator counts who still calls it."""
    command = bound.command
    instead = f"; use {command.replaced_by}" if command.replaced_by else ""
    context.log.warning("%s is deprecated: %s%s", bound.id, command.deprecated, instead)
    metrics.DEPRECATED_CALLS.labels(bound.connector, command.name).inc()


def _completes(answer: Envelope) -> bool:
    """Would the host complete the task on this answer (no error, an upstream status below 300)?"""
    status = answer["command_response"].get("http_status")
    return answer["error"] is None and isinstance(status, int) and status < 300


def rejected(error: CommandError) -> Outcome:
    """A call refused before any command ran: the proxy answers the error's status."""
    return Outcome(error.http_status, envelope.from_error(error))


def _outcome(bound: BoundCommand, invocation: Invocation, lines: list[str]) -> Outcome:
    """What the host is answered, whether the command ran here or in an isolated worker."""
    match invocation:
        case Returned(result):
            status = ACCEPTED if isinstance(result, Accepted) else 200  # the command calls the host back
            return Outcome(status, envelope.from_result(result, lines), metrics.OK)
        case Raised(error) if error.declared is error_codes.INVALID_REQUEST_BODY:
            return rejected(error)  # the task data, read late, is refused as it would have been on arrival
        case Raised(error):
            _check_declared(bound, error.declared)
            # the call completed; the failure travels in the envelope
            return Outcome(200, envelope.from_error(error, lines), metrics.UPSTREAM_ERROR)
        case Refused(kind, reason):
            metrics.OUTBOUND_REFUSALS.labels(bound.connector, kind).inc()
            return Outcome(200, envelope.from_error(error_codes.outbound_refusal(kind, reason), lines))
        case Crashed(exception):
            return Outcome(500, envelope.from_error(error_codes.command_crashed(bound.id, exception), lines))


def _check_declared(bound: BoundCommand, code: ErrorCode) -> None:
    if code not in bound.command.errors:
        log.warning("%s raised undeclared error code %s", bound.id, code.code)

"""Live checks: whether a connector's credentials and destinations work, asked by an operator.

A connector declares one with ``@connector.check``. ``POST /v1/connectors/<name>/check``, the
page and ``connector-proxy check --live`` all run it here, in this process or in an isolated
connector's worker alike, within ``limits.check_timeout``, and read what came of it the same way.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from connector_proxy.calls.registry import Registry
from connector_proxy.sdk.context import Context, TaskLog
from connector_proxy.sdk.invocation import Crashed, Invocation, Raised, Refused, Returned, guarded
from connector_proxy.telemetry import metrics

OK = "ok"
FAILED = "failed"
NOT_OFFERED = "not_offered"  # the connector declares no check
UNAVAILABLE = "unavailable"  # the connector is not ready (its setup failed, say): nothing to check
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckOutcome:
    """What a live check found: ``state`` is ok, failed, not_offered or unavailable."""

    connector: str
    state: str
    message: str
    seconds: float = 0.0

    def describe(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "state": self.state,
            "message": self.message,
            "seconds": round(self.seconds, 3),
        }


def run_check(registry: Registry, name: str, timeout: float) -> CheckOutcome | None:
    """Run connector ``name``'s live check; None when no connector has that name."""
    bound = registry.checks.get(name)
    if bound is None:
        return _without_check(registry, name)
    ctx = Context(
        **bound.live.in_use(),  # one pair, even across a secret's refresh
        log=TaskLog(bound.logger),
        deadline=time.monotonic() + timeout,
    )
    started = time.perf_counter()
    invocation = guarded(ctx, f"{name}'s live check", lambda: bound.check.function(ctx))
    seconds = time.perf_counter() - started
    outcome = _outcome_of(name, invocation, seconds, late=time.monotonic() > ctx.deadline, timeout=timeout)
    metrics.CHECKS.labels(name, outcome.state).inc()
    log.info("live check of %s: %s in %.1f ms", name, outcome.state, seconds * 1000)
    return outcome


def _without_check(registry: Registry, name: str) -> CheckOutcome | None:
    if name in registry.ready:
        return CheckOutcome(name, NOT_OFFERED, "the connector offers no live check")
    status = registry.left_out(name) or next((s for s in registry.statuses if s.name == name), None)
    if status is None:
        return None
    return CheckOutcome(name, UNAVAILABLE, f"the connector is {status.state}: {status.detail or ''}".strip())


def _outcome_of(
    name: str, invocation: Invocation, seconds: float, late: bool, timeout: float
) -> CheckOutcome:
    match invocation:
        case Returned(result) if late:
            return CheckOutcome(name, FAILED, f"the check answered after its {timeout:g} s deadline", seconds)
        case Returned(result):
            said = result.body if isinstance(result.body, str) else ""
            return CheckOutcome(name, OK, said, seconds)
        case Raised(error):
            return CheckOutcome(name, FAILED, error.message, seconds)
        case Refused(_kind, reason):
            return CheckOutcome(name, FAILED, reason, seconds)
        case Crashed(exception, _message):  # its text may hold anything: the log has it, not the answer
            return CheckOutcome(name, FAILED, f"the check raised {exception}; see the daemon's log", seconds)
    raise AssertionError("unreachable")

"""Liveness (open to everyone, cheap) and readiness (is everything this worker needs up?), in JSON."""

from __future__ import annotations

import logging
import sys
from typing import Any

from flask import Blueprint, Response

from connector_proxy.host.error_codes import NOT_READY
from connector_proxy.sdk.errors import CommandError
from connector_proxy.web.documented import documented
from connector_proxy.web.responses import error_response, json_response, raw_json
from connector_proxy.web.state import ProxyState, proxy_state

health = Blueprint("health", __name__)
_OK = b'{"ok":true}'
log = logging.getLogger(__name__)
LIVE = {"type": "object", "required": ["ok"], "properties": {"ok": {"const": True}}}
READY = {
    "type": "object",
    "required": ["ready", "connectors"],
    "properties": {
        "ready": {"const": True},
        "connectors": {"type": "array", "items": {"type": "string"}},
        "degraded": {"type": "array", "items": {"type": "object"}},
    },
}


@health.get("/liveness")
@health.get("/v1/liveness")
@documented({200: LIVE}, tag="operations")
def liveness() -> Response:
    """The process answers; open to everyone, costs nothing."""
    return raw_json(_OK)


@health.get("/v1/readiness")
@documented({200: READY}, errors=(NOT_READY,), tag="operations")
def readiness() -> Response:
    """200 when every enabled connector and subscription is ready, the job store answers and can write,
    and no host refused the callback credentials at its last callback; 503 naming each problem. Jobs
    being recovered from a process that died are named in ``degraded`` (``jobs: recovering``), as are
    subscriptions whose registration at their source fails (``registration_failing``), as is
    another proxy whose catalog could not be read at its last try (and in a 503's details), never a
    reason for 503: a balancer would take this daemon out for one remote's outage."""
    state = proxy_state()
    problems = [*_connector_problems(state), *_job_store_problems(state), *_subscription_problems(state)]
    degraded = state.proxies.problems()  # named, never a 503: a remote down fails its own commands only
    if not problems:
        degraded += _jobs_recovering(state) + _registrations_failing(state)
    if problems:
        summary = "; ".join(f"{p['component']}: {p['state']}" for p in problems)
        return error_response(CommandError(NOT_READY, f"Not ready: {summary}", details=problems + degraded))
    return json_response({"ready": True, "connectors": list(state.registry.ready), "degraded": degraded})


def _connector_problems(state: ProxyState) -> list[dict[str, Any]]:
    problems = [
        {"component": f"connector {s.name}", "state": s.state, "detail": s.detail}
        for s in state.registry.troubled
    ]
    for name, pool in state.services.pools.items():
        workers = pool.health()
        if workers["alive"] == 0:  # none could be started (they are started when this worker starts)
            problems.append(
                {"component": f"connector {name}", "state": "workers_down", "detail": workers["last_error"]}
            )
    return problems


def _job_store_problems(state: ProxyState) -> list[dict[str, Any]]:
    try:
        state.jobs.ping()  # events live in the same file or Redis: a failed event write shows here too
    except Exception as error:  # any failure to reach the store is the answer, not a 500
        log.warning("readiness: the job store does not answer or cannot write: %s", error)
        store = state.settings.jobs.backend
        detail = f"{type(error).__name__}: the store of jobs and events ({store}): {error}"
        return [{"component": "jobs", "state": _store_state(error), "detail": detail[:300]}]
    return [
        {"component": f"callbacks to {origin}", "state": "credentials_refused", "detail": detail}
        for origin, detail in state.jobs.refused_credentials().items()
    ]


def _store_state(error: Exception) -> str:
    """``unreachable`` (Redis away, a timeout) or ``cannot_write`` (it answers, but refuses the write: a
    full or read-only disk, a Redis at its maxmemory or unable to persist)."""
    redis = sys.modules.get("redis")  # imported only by a daemon with a Redis store
    away = (ConnectionError, TimeoutError) + (
        (redis.ConnectionError, redis.TimeoutError) if redis is not None else ()
    )
    return "unreachable" if isinstance(error, away) else "cannot_write"


def _jobs_recovering(state: ProxyState) -> list[dict[str, Any]]:
    """Jobs queued again after their process died, not started since: degraded, not a 503 (they run
    as soon as a worker is free)."""
    count = state.jobs.recovering()
    if not count:
        return []
    detail = f"{count} job(s) whose process died are queued again and wait to run"
    return [{"component": "jobs", "state": "recovering", "detail": detail}]


def _registrations_failing(state: ProxyState) -> list[dict[str, Any]]:
    """A webhook its source was not told of (or not rid of) yet: degraded, not a 503 (it is retried)."""
    return [
        {"component": f"subscription {name}", "state": "registration_failing", "detail": detail}
        for name, detail in state.events.failing_registrations().items()
    ]


def _subscription_problems(state: ProxyState) -> list[dict[str, Any]]:
    return [
        {"component": f"subscription {name}", "state": "unavailable", "detail": detail}
        for name, detail in state.events.problems.items()
    ]

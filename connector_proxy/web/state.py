"""What the application holds for its routes: settings, registry, executor, jobs, events, process services."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import Flask, current_app

from connector_proxy.budget import Budget
from connector_proxy.config import Settings
from connector_proxy.events.service import Events
from connector_proxy.executor import Executor
from connector_proxy.jobs.service import Jobs
from connector_proxy.lifecycle import ProcessServices
from connector_proxy.registry import Registry
from connector_proxy.signin import SignIns
from connector_proxy.ttl_cache import TtlCache

EXTENSION = "connector_proxy"


@dataclass(frozen=True)
class ProxyState:
    """Built once by the application factory; routes only read it."""

    settings: Settings
    registry: Registry
    executor: Executor
    jobs: Jobs
    events: Events
    signins: SignIns
    services: ProcessServices  # started in each worker process after the fork
    openapi_json: bytes = b"{}"  # rendered once the routes are registered
    # webhook requests read and verified at once in this process (events.max_unverified)
    unverified: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(4))
    # webhook body bytes read and verified per second in this process (events.unverified_bytes_per_second)
    unverified_bytes: Budget = field(default_factory=lambda: Budget(4 * 1024 * 1024, 4 * 1024 * 1024))
    # typeahead answers kept limits.typeahead_cache_seconds in this process
    suggestions: TtlCache[list[object]] = field(default_factory=lambda: TtlCache(30.0))


def attach(app: Flask, state: ProxyState) -> None:
    app.extensions[EXTENSION] = state


def proxy_state() -> ProxyState:
    return proxy_state_of(current_app)


def proxy_state_of(app: Flask) -> ProxyState:
    state: ProxyState = app.extensions[EXTENSION]
    return state

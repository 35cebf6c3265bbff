"""What the application holds for its routes: settings, registry, executor, jobs, events, process services,
other proxies."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import Flask, current_app

from connector_proxy.calls.executor import Executor
from connector_proxy.calls.registry import Registry
from connector_proxy.config import Settings
from connector_proxy.events.service import Events
from connector_proxy.jobs.service import Jobs
from connector_proxy.oauth.signin import SignIns
from connector_proxy.process.services import ProcessServices
from connector_proxy.proxies.service import Proxies
from connector_proxy.web.token_bucket import Budget
from connector_proxy.web.ttl_cache import TtlCache

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
    proxies: Proxies  # other connector proxies whose commands join ours
    openapi_json: bytes = b"{}"  # rendered once the routes are registered
    # made from the settings, one of each per process (each worker inherits its own at the fork):
    # webhook requests read and verified at once (events.max_unverified), their body bytes a second
    # (events.unverified_bytes_per_second), typeahead answers kept (limits.typeahead_cache_seconds)
    unverified: threading.BoundedSemaphore = field(init=False)
    unverified_bytes: Budget = field(init=False)
    suggestions: TtlCache[list[object]] = field(init=False)

    def __post_init__(self) -> None:
        events, made = self.settings.events, object.__setattr__  # frozen: set once, here
        made(self, "unverified", threading.BoundedSemaphore(events.max_unverified))
        made(
            self,
            "unverified_bytes",
            Budget(events.unverified_bytes_per_second, events.unverified_bytes_per_second),
        )
        made(self, "suggestions", TtlCache(self.settings.limits.typeahead_cache_seconds))


def attach(app: Flask, state: ProxyState) -> None:
    app.extensions[EXTENSION] = state


def proxy_state() -> ProxyState:
    return proxy_state_of(current_app)


def proxy_state_of(app: Flask) -> ProxyState:
    state: ProxyState = app.extensions[EXTENSION]
    return state

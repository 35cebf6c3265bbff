"""What the application holds for its routes: settings, registry, executor, jobs, events, process services."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from connector_proxy.config import Settings
from connector_proxy.events.service import Events
from connector_proxy.executor import Executor
from connector_proxy.jobs.service import Jobs
from connector_proxy.lifecycle import ProcessServices
from connector_proxy.registry import Registry
from connector_proxy.signin import SignIns

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


def attach(app: Flask, state: ProxyState) -> None:
    app.extensions[EXTENSION] = state


def proxy_state() -> ProxyState:
    return proxy_state_of(current_app)


def proxy_state_of(app: Flask) -> ProxyState:
    state: ProxyState = app.extensions[EXTENSION]
    return state

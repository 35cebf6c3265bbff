"""What the application holds for its routes: settings, registry, executor."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from connector_proxy.config import Settings
from connector_proxy.executor import Executor
from connector_proxy.jobs.service import Jobs
from connector_proxy.registry import Registry
from connector_proxy.signin import SignIns

EXTENSION = "connector_proxy"


@dataclass(frozen=True)
class ProxyState:
    settings: Settings
    registry: Registry
    executor: Executor
    jobs: Jobs
    signins: SignIns


def attach(app: Flask, state: ProxyState) -> None:
    app.extensions[EXTENSION] = state


def proxy_state() -> ProxyState:
    return proxy_state_of(current_app)


def proxy_state_of(app: Flask) -> ProxyState:
    state: ProxyState = app.extensions[EXTENSION]
    return state

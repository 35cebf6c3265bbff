"""What the application holds for its routes: settings, registry, executor."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from connector_proxy.config import Settings
from connector_proxy.executor import Executor
from connector_proxy.registry import Registry

EXTENSION = "connector_proxy"


@dataclass(frozen=True)
class ProxyState:
    settings: Settings
    registry: Registry
    executor: Executor


def attach(app: Flask, state: ProxyState) -> None:
    app.extensions[EXTENSION] = state


def proxy_state() -> ProxyState:
    state: ProxyState = current_app.extensions[EXTENSION]
    return state

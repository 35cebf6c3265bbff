"""Serve the app under gunicorn: threaded workers, discovery once in the master.

The app is built before the workers fork (like ``preload_app``), so start-up
costs one discovery however many workers there are; connectors open their
connections lazily, after the fork.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from connector_proxy.config import ServerSettings


class DaemonServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no types
    def __init__(self, app: Flask, server: ServerSettings) -> None:
        self.application = app
        self.server = server
        super().__init__()

    def load_config(self) -> None:
        for key, value in gunicorn_options(self.server).items():
            if key in self.cfg.settings:  # older gunicorn releases lack some settings
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def gunicorn_options(server: ServerSettings) -> dict[str, Any]:
    """Our settings in gunicorn's terms; SIGTERM then waits ``graceful_timeout``."""
    return {
        "bind": [server.bind],
        "workers": server.workers,
        "worker_class": "gthread",  # a slow upstream holds one thread, not a worker
        "threads": server.threads,
        "graceful_timeout": server.graceful_timeout,
        "timeout": max(60, server.graceful_timeout),
        "keepalive": 5,
        "loglevel": server.log_level,
        "accesslog": "-" if server.access_log else None,
        "errorlog": "-",
        "proc_name": "connector-proxy",
        "preload_app": True,
        "control_socket_disable": True,  # one fixed path per user would clash between instances
    }


def serve(app: Flask, server: ServerSettings) -> None:
    DaemonServer(app, server).run()

"""Serve the app under gunicorn: gevent workers by default, discovery once in the master.

The app is built before the workers fork (like ``preload_app``), so start-up
costs one discovery however many workers there are; connectors open their
connections lazily, after the fork. Each worker starts its process's services
(isolated connectors' workers, job threads: :mod:`connector_proxy.lifecycle`)
once it is up and stops them, letting running jobs finish, when it exits.
"""

from __future__ import annotations

import socket
from typing import Any

from flask import Flask
from gunicorn import glogging, util
from gunicorn.app.base import BaseApplication
from gunicorn.http import message

from connector_proxy import envelope, jsontext, redaction
from connector_proxy.config import LimitSettings, ServerSettings
from connector_proxy.errors import http_refusal
from connector_proxy.web.bounded import BoundedChunkedReader
from connector_proxy.web.state import proxy_state_of


class RedactingLogger(glogging.Logger):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn's logger, its error and access lines redacted like ours (URLs to origins)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        redaction.redact_handlers(self.error_log, self.error_fmt, self.datefmt)
        redaction.redact_handlers(self.access_log, self.access_fmt)


class DaemonServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no types
    def __init__(self, app: Flask, server: ServerSettings) -> None:
        self.application = app
        self.server = server
        super().__init__()

    def load_config(self) -> None:
        state = proxy_state_of(self.application)
        for key, value in gunicorn_options(self.server, state.settings.limits).items():
            if key in self.cfg.settings:  # older gunicorn releases lack some settings
                self.cfg.set(key, value)
        grace = max(1.0, self.server.graceful_timeout - 2.0)  # finish before the master's SIGKILL

        def worker_started(_worker: object) -> None:
            state.services.start()

        def worker_exiting(_server: object, _worker: object) -> None:
            state.services.stop(grace)

        self.cfg.set("post_worker_init", worker_started)
        self.cfg.set("worker_exit", worker_exiting)

    def load(self) -> Flask:
        return self.application


def gunicorn_options(server: ServerSettings, limits: LimitSettings) -> dict[str, Any]:
    """Our settings in gunicorn's terms; SIGTERM then waits ``graceful_timeout``."""
    return {
        "bind": [server.bind],
        "workers": server.workers,
        "worker_class": server.worker_class,  # see connector_proxy.concurrency
        "worker_connections": server.worker_connections,
        "threads": server.threads,
        "graceful_timeout": server.graceful_timeout,
        "timeout": max(60, server.graceful_timeout),
        # the gevent worker bounds reading a request's line and headers (and an idle connection) by this
        "keepalive": limits.header_timeout,
        "loglevel": server.log_level,
        "accesslog": "-" if server.access_log else None,
        # the path without its query: sign-in callbacks carry one-time codes there, typeahead what users type
        "access_log_format": '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss',
        "errorlog": "-",
        "proc_name": "connector-proxy",
        "preload_app": True,
        "logger_class": RedactingLogger,  # gunicorn's own lines go through the same redaction
        "control_socket_disable": True,  # one fixed path per user would clash between instances
    }


def serve(app: Flask, server: ServerSettings) -> None:
    # gunicorn answers requests it cannot parse itself, in HTML; hosts get JSON
    util.write_error = write_json_error
    BoundedChunkedReader.max_chunk = proxy_state_of(app).settings.limits.max_body_bytes
    message.ChunkedReader = BoundedChunkedReader
    DaemonServer(app, server).run()


def write_json_error(sock: socket.socket, status: int, reason: str, _detail: str) -> None:
    """gunicorn's error writer, answering the envelope (the detail may quote the URI: left out)."""
    body = jsontext.dumps(envelope.from_error(http_refusal(status, reason)))
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)

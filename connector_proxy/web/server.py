"""Serve the app under gunicorn: gevent workers by default, discovery once in the master.

The app is built before the workers fork (like ``preload_app``), so start-up
costs one discovery however many workers there are; connectors open their
connections lazily, after the fork. Each worker starts its process's services
(isolated connectors' workers, job threads: :mod:`connector_proxy.process.services`)
once it is up and stops them, letting running jobs finish, when it exits.
"""

from __future__ import annotations

import logging
import mmap
import os
import shutil
import signal
import socket
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn import glogging, util
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.http import message
from prometheus_client.multiprocess import mark_process_dead

from connector_proxy.calls import envelope
from connector_proxy.config import LimitSettings, ServerSettings
from connector_proxy.host import jsontext
from connector_proxy.host.error_codes import http_refusal
from connector_proxy.sdk.invocation import guard_exits
from connector_proxy.telemetry import logs
from connector_proxy.telemetry.metrics import MULTIPROCESS_DIRECTORY
from connector_proxy.web.bounded import BoundedChunkedReader
from connector_proxy.web.request_ids import ENVIRON_KEY
from connector_proxy.web.state import proxy_state_of

log = logging.getLogger(__name__)
BOOT_SLOTS = 4096  # one byte per worker generation (age modulo this), shared by the master and workers
EXPECTED_SIGNALS = {signal.SIGTERM, signal.SIGQUIT, signal.SIGINT}  # how the master stops a worker


class DaemonLogger(glogging.Logger):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn's error and access lines in our format, on stderr, redacted like ours.

    An access line is a record with the request's fields (``http``) and its id;
    the path is logged without its query: sign-in callbacks carry one-time
    codes there, typeahead what users type.
    """

    log_format = "auto"  # set by DaemonServer from server.log_format

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        logs.adopt(self.error_log, self.log_format)
        logs.adopt(self.access_log, self.log_format)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not self.access_log.handlers:
            return
        status = getattr(resp, "status_code", None)
        http = {
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "remote": environ.get("REMOTE_ADDR"),
        }
        extra = {"http": http, "request_id": environ.get(ENVIRON_KEY)}
        self.access_log.info("%s %s %s", http["method"], http["path"], status, extra=extra)


class DaemonServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn running our app; SIGHUP builds the app again from the configuration (``rebuild``).

    The new app is built in the master, then gunicorn starts new workers with it and stops the old
    ones gracefully: the listening socket stays open throughout, calls in flight finish. A
    configuration that fails to load is refused and the running app goes on serving.
    """

    def __init__(
        self,
        app: Flask,
        metrics_directory: Path | None = None,
        rebuild: Callable[[], Flask] | None = None,
    ) -> None:
        self.application = app
        self.booted = mmap.mmap(-1, BOOT_SLOTS)  # anonymous and shared: written by workers after fork
        self.metrics_directory = metrics_directory  # ours to remove at exit
        self.rebuild = rebuild
        super().__init__()

    def reload(self) -> None:
        if self.rebuild is not None:
            try:
                app = self.rebuild()
            except Exception as error:  # a bad file, a missing secret, an extra not installed
                log.error("reload refused, the running configuration keeps serving: %s", error)
            else:
                self.application, self.callable = app, None  # preload: gunicorn forks the new one
                log.info("configuration reloaded: new workers start, the old ones finish their calls")
        super().reload()

    def load_config(self) -> None:
        state = proxy_state_of(self.application)
        server, limits = state.settings.server, state.settings.limits
        for key, value in gunicorn_options(server, limits).items():
            if key in self.cfg.settings:  # older gunicorn releases lack some settings
                self.cfg.set(key, value)
        DaemonLogger.log_format = server.log_format
        BoundedChunkedReader.max_chunk = limits.max_body_bytes
        grace = max(1.0, server.graceful_timeout - 2.0)  # finish before the master's SIGKILL

        def worker_started(_worker: object) -> None:
            state.services.start()

        def worker_exiting(_server: object, _worker: object) -> None:
            state.services.stop(grace)

        def worker_gone(_server: object, worker: Any) -> None:
            if os.environ.get(MULTIPROCESS_DIRECTORY):  # its live gauges stop counting; counters stay
                mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
            try:  # the jobs it was running are queued again now, not when their leases run out
                proxy_state_of(self.application).jobs.worker_gone(worker.pid)
            except Exception:  # the store is away: the leases run out and another worker's sweep finds them
                log.exception("could not queue again the jobs of worker %s", worker.pid)

        def daemon_exiting(_server: object) -> None:
            if self.metrics_directory is not None:
                shutil.rmtree(self.metrics_directory, ignore_errors=True)

        self.cfg.set("post_worker_init", booting(worker_started, self.booted))
        self.cfg.set("worker_exit", worker_exiting)
        self.cfg.set("child_exit", worker_gone)
        self.cfg.set("on_exit", daemon_exiting)

    def load(self) -> Flask:
        return self.application

    def run(self) -> None:
        try:
            DaemonArbiter(self).run()
        except RuntimeError as error:  # gunicorn's own message for a configuration it refuses
            print(f"\nError: {error}\n", file=sys.stderr, flush=True)
            raise SystemExit(1) from None


def booting(started: Callable[[Any], None], booted: mmap.mmap) -> Callable[[Any], None]:
    """``post_worker_init``: the worker's mark as booted (from then on its exit, with whatever status,
    is a crash the master outlives), then its services. The mark comes first: a job the services take
    at once (one queued again after a crash) may end the process before they return; a service that
    cannot start takes the mark back, and its error is a boot failure, as before."""

    def hook(worker: Any) -> None:
        guard_exits()  # a command's os._exit() is its own call's crash, not the worker's
        slot = worker.age % BOOT_SLOTS
        booted[slot] = 1
        try:
            started(worker)
        except BaseException:
            booted[slot] = 0
            raise

    return hook


class DaemonArbiter(Arbiter):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn's master, except that a worker which has booted can never stop it.

    gunicorn halts the whole server when a worker exits with status 3 or 4 (its "failed to boot"
    and "app failed to load"), whenever that happens; a connector calling ``os._exit(3)`` mid-call
    would take the daemon down. A worker marked booted (``booting``) is reaped here first, whatever
    its status or signal: logged as a crash and replaced by the master's loop. Workers that never
    booted are left to gunicorn, so a daemon that cannot start still stops.
    """

    def spawn_worker(self) -> Any:
        self.app.booted[(self.worker_age + 1) % BOOT_SLOTS] = 0  # the age gunicorn gives the new one
        return super().spawn_worker()

    def reap_workers(self) -> None:
        for pid, worker in list(self.WORKERS.items()):
            if self.app.booted[worker.age % BOOT_SLOTS]:
                self._reap_booted(pid, worker)
        super().reap_workers()

    def _reap_booted(self, pid: int, worker: Any) -> None:
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if not reaped:
            return
        self.WORKERS.pop(pid, None)
        how = exit_described(status)
        if how is not None:
            log.error("worker %s crashed (%s): a new one replaces it", pid, how)
        worker.tmp.close()
        self.cfg.child_exit(self, worker)


def exit_described(status: int) -> str | None:
    """A worker's wait status in words, or None for an ordinary stop (status 0, or the master's signal)."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number in EXPECTED_SIGNALS:
            return None
        try:
            return f"signal {signal.Signals(number).name}"
        except ValueError:
            return f"signal {number}"
    code = os.waitstatus_to_exitcode(status)
    return f"status {code}" if code else None


def gunicorn_options(server: ServerSettings, limits: LimitSettings) -> dict[str, Any]:
    """Our settings in gunicorn's terms; SIGTERM then waits ``graceful_timeout``."""
    return {
        "bind": [server.bind],
        "workers": server.workers,
        "worker_class": server.worker_class,  # see connector_proxy.process.concurrency
        "worker_connections": server.worker_connections,
        "threads": server.threads,
        "graceful_timeout": server.graceful_timeout,
        "timeout": server.worker_timeout,
        # the gevent worker bounds reading a request's line and headers (and an idle connection) by this
        "keepalive": limits.header_timeout,
        "loglevel": server.log_level,
        "accesslog": "-" if server.access_log else None,
        "errorlog": "-",
        "proc_name": "connector-proxy",
        "preload_app": True,
        "logger_class": DaemonLogger,  # gunicorn's own lines in our format, redacted
        "control_socket_disable": True,  # one fixed path per user would clash between instances
    }


def serve(
    app: Flask, metrics_directory: Path | None = None, rebuild: Callable[[], Flask] | None = None
) -> None:
    # gunicorn answers requests it cannot parse itself, in HTML; hosts get JSON
    util.write_error = write_json_error
    message.ChunkedReader = BoundedChunkedReader
    DaemonServer(app, metrics_directory, rebuild).run()


def write_json_error(sock: socket.socket, status: int, reason: str, _detail: str) -> None:
    """gunicorn's error writer, answering the envelope (the detail may quote the URI: left out)."""
    body = jsontext.dumps(envelope.from_error(http_refusal(status, reason)))
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)

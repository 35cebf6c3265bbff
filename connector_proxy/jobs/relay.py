"""Results a command PUTs back itself, relayed to the host with the daemon's callback credentials.

A SpiffWorkflow package's ``execute_async`` (any command declared ``calls_back``)
PUTs its result to the callback URL it is handed, with no credentials: a
SpiffWorkflow backend refuses that (401) and the task waits forever. So the
daemon hands it a URL of its own, ``<jobs.relay_url>/v1/relay/<job>?key=<key>``,
and keeps a job waiting for it. The PUT becomes the job's envelope, delivered
like every job's result: with ``jobs.callback_headers``, retried, across
restarts. A job still waiting after ``jobs.command_timeout`` fails with
``RelayTimedOut``, delivered the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Any

from connector_proxy.calls import envelope
from connector_proxy.config import Settings
from connector_proxy.host import jsontext
from connector_proxy.host.error_codes import INVALID_REQUEST_BODY, RELAY_TIMED_OUT
from connector_proxy.jobs.model import WAITING, Job
from connector_proxy.legacy.answers import logs_of, result_of
from connector_proxy.sdk.errors import CommandError
from connector_proxy.sdk.paths import url_path

log = logging.getLogger(__name__)
WILDCARDS = ("", "0.0.0.0", "::", "[::]")  # noqa: S104 - bind addresses read, not bound


def relay_base(settings: Settings) -> str | None:
    """Where a command on this machine reaches the daemon: ``jobs.relay_url``, else the port
    ``server.bind`` names on loopback; None for a bind it cannot be told from (a unix socket)."""
    if settings.jobs.relay_url:
        return settings.jobs.relay_url.rstrip("/")
    host, _, port = settings.server.bind.rpartition(":")
    if not port.isdigit() or host.startswith("unix"):
        log.warning(
            "server.bind %r names no port and jobs.relay_url is empty: a command that PUTs its result"
            " back itself (a SpiffWorkflow package's execute_async) is handed the host's URL, without"
            " credentials; set jobs.relay_url",
            settings.server.bind,
        )
        return None
    return f"http://{'127.0.0.1' if host in WILDCARDS else host}:{port}"


def open_relay(job: Job, base: str) -> str:
    """Make ``job`` wait for its command's PUT; the URL to hand the command (its key is kept hashed)."""
    key = secrets.token_urlsafe(32)
    job.relay_key_digest = _digest(key)
    job.state = WAITING
    return f"{base}{url_path('v1', 'relay', job.id)}?key={key}"


def key_fits(job: Job, key: str) -> bool:
    """Whether ``key`` is the one handed out for this job, compared in constant time."""
    return job.relay_key_digest is not None and hmac.compare_digest(_digest(key), job.relay_key_digest)


def settle(job: Job, raw: bytes) -> None:
    """Finish the job with what its command PUT (any shape a SpiffWorkflow package answers in);
    a body that is not JSON raises, and the job goes on waiting for a better one."""
    try:
        answer: Any = jsontext.loads(raw)
    except jsontext.NotStrictJson as problem:
        raise CommandError(INVALID_REQUEST_BODY, str(problem)) from None
    logs = logs_of(answer)
    try:
        settled = envelope.from_result(result_of(answer, job.command), logs)
    except CommandError as error:  # the command reported a failure: the host fails the task with it
        settled = envelope.from_error(error, logs)
    job.finish(200, settled)


def timed_out() -> CommandError:
    """What fails a job whose command never PUT its result back; the host is told as of any failure."""
    return CommandError(
        RELAY_TIMED_OUT, "its result was never PUT back to the daemon by jobs.command_timeout"
    )


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()

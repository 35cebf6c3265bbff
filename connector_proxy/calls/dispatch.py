"""How a call runs, decided in one place: through another proxy, as a job, through the relay, or now.

The web route hands over the request's parts and renders what comes back; every path is timed,
counted and logged by :class:`connector_proxy.calls.timed.Timed`.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from connector_proxy.calls.call import Call, check
from connector_proxy.calls.executor import Executor, Outcome, rejected
from connector_proxy.calls.registry import Registry
from connector_proxy.calls.timed import Timed
from connector_proxy.config import Settings
from connector_proxy.host.error_codes import PROXY_CHAIN, PROXY_UNAVAILABLE
from connector_proxy.jobs.service import Jobs
from connector_proxy.process.concurrency import unless_client_leaves
from connector_proxy.proxies.calls import Passed, forward_call, redirect_location
from connector_proxy.proxies.catalogs import RemoteCommand
from connector_proxy.proxies.client import Remote
from connector_proxy.proxies.service import Proxies
from connector_proxy.sdk.errors import CommandError
from connector_proxy.sdk.paths import url_path
from connector_proxy.telemetry import metrics

log = logging.getLogger(__name__)


class Serving(Protocol):
    """What a call is dispatched to (the application's state)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def executor(self) -> Executor: ...
    @property
    def jobs(self) -> Jobs: ...
    @property
    def proxies(self) -> Proxies: ...


@dataclass(frozen=True)
class Incoming:
    """A call as the route received it."""

    command_id: str
    raw: bytes  # the body as it came: a remote command's call is passed on so
    body: Any  # as read (task_data.read_call)
    prefer: str | None = None  # the Prefer header
    via_proxy: bool = False  # it came through another proxy: a remote command is not passed on again
    client: socket.socket | None = None  # a call whose client hung up is ended, not finished


@dataclass(frozen=True)
class Redirected:
    """The host is sent to the proxy that serves the command (its ``mode = "redirect"``)."""

    location: str
    status: int


@dataclass(frozen=True)
class JobAnswer:
    """The call was accepted as a job (202), or refused before it was kept."""

    outcome: Outcome


Answer = Outcome | JobAnswer | Passed | Redirected


def dispatch(serving: Serving, incoming: Incoming) -> Answer:
    """Another proxy's command is passed on; else the call runs as a job, through the relay, or now."""
    command_id = incoming.command_id
    bound = serving.registry.find(command_id)  # the one lookup of this call
    if bound is None and serving.proxies.remotes:
        passed_on = _elsewhere(serving, incoming)
        if passed_on is not None:
            return passed_on
    call = Call.read(command_id, incoming.body, bound)
    jobs = serving.jobs
    if jobs.wanted(call, incoming.prefer):
        return JobAnswer(jobs.accept(call))
    if jobs.relays(call):  # the command PUTs its result back: through the daemon
        return unless_client_leaves(incoming.client, partial(jobs.relay, call))
    return unless_client_leaves(incoming.client, partial(serving.executor.run, call, answers_host=True))


def _elsewhere(serving: Serving, incoming: Incoming) -> Answer | None:
    """The answer to a call of a remote command; None when no remote serves it."""
    command_id = incoming.command_id
    found = serving.proxies.find(command_id)
    if found is None:
        awaited = serving.proxies.expected(command_id.partition("/")[0])
        if awaited is None:
            return None
        name = awaited.settings.name
        unread = (
            f"proxy {name} ({awaited.origin}): its catalog has not been read yet; GET /v1/proxies says why"
        )
        return rejected(CommandError(PROXY_UNAVAILABLE, unread))
    remote, command = found
    with Timed(log, command_id, command.connector, command_id.partition("/")[2]) as timed:
        try:
            answer = _passed_on(serving, incoming, remote, command)
            outcome, code = metrics.OK if _status(answer) < 400 else metrics.PROXY_ERROR, ""
        except CommandError as error:
            answer = rejected(error)
            outcome, code = metrics.PROXY_ERROR, error.declared.code
        via = f"via proxy {remote.settings.name}" + (f" {code}" if code else "")
        timed.done(_status(answer), outcome, code, via)
    return answer


def _passed_on(serving: Serving, incoming: Incoming, remote: Remote, command: RemoteCommand) -> Answer:
    if incoming.via_proxy:
        served = f"{command.id} is served by proxy {remote.settings.name}"
        chain = f"{served}: a call that came through another proxy is not passed on again"
        raise CommandError(PROXY_CHAIN, chain)
    check(Call.read(command.id, incoming.body, None, command.optional), command.validator)  # its parameters
    if remote.settings.mode == "redirect":
        location = redirect_location(remote, url_path("v1", "do", *command.id.split("/")))
        return Redirected(location, remote.settings.redirect_status)
    timeout = serving.settings.limits.command_timeout
    forward = partial(forward_call, remote, command.id, incoming.raw, incoming.prefer, timeout)
    return unless_client_leaves(incoming.client, forward)


def _status(answer: Answer) -> int:
    return answer.outcome.status if isinstance(answer, JobAnswer) else answer.status

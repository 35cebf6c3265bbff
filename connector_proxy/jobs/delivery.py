"""Sending a finished job's envelope to the host: ``PUT spiff__callback_url``, retried.

Connection errors, timeouts, 429, 5xx, and 401/403 (credentials an operator
will mend) are retried with exponential backoff and jitter until
``jobs.delivery_give_up_after`` has passed since the job finished; any other
answer >= 300 (the host refusing the body) is final. Neither the URL's path
nor the configured headers reach a log line.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from urllib3 import Timeout
from urllib3.exceptions import HTTPError

from connector_proxy.config import JobSettings
from connector_proxy.host import jsontext
from connector_proxy.host.error_codes import INVALID_CALLBACK_URL
from connector_proxy.host.replies import read_answer
from connector_proxy.jobs.model import DELIVERED, PENDING, UNDELIVERABLE, Job
from connector_proxy.sdk import tracing
from connector_proxy.sdk.destinations import (
    DestinationBlocked,
    DestinationPolicy,
    literal_address,
    parse_destination,
)
from connector_proxy.sdk.errors import CommandError, is_transient
from connector_proxy.sdk.outbound import origin_of, pool_manager
from connector_proxy.sdk.retrying import backoff
from connector_proxy.telemetry.metrics import CALLBACK_OUTCOMES, CALLBACKS

log = logging.getLogger(__name__)
FIRST_DELAY = 1.0  # then 2, 4 … seconds up to 5 minutes, each with up to half taken off at random
MAX_DELAY = 300.0
MAX_URL_LENGTH = 2048


def warn_without_credentials(settings: JobSettings) -> None:
    """Say so at start-up when callbacks would go out without credentials: a SpiffWorkflow backend
    refuses them, and the jobs' results would be lost after a day of retries."""
    if settings.callback_headers:
        return
    log.warning(
        "jobs.callback_headers is empty: callbacks carry no credential and a SpiffWorkflow backend refuses"
        ' them; set e.g. jobs.callback_headers = ["SpiffWorkflow-Api-Key: env:SPIFF_API_KEY"]'
        " (docs/http-api.md: 'Callbacks to a SpiffWorkflow backend')"
    )


@dataclass(frozen=True)
class Attempt:
    delivered: bool
    retry: bool
    error: str | None
    status: int | None = None  # the host's answer, when it gave one
    answer: object = None

    @property
    def outcome(self) -> str | None:
        """What the host made of it, in its own words where it gave them (None: no final word yet)."""
        if self.status in CREDENTIAL_STATUSES:
            return CREDENTIALS_REFUSED
        if self.delivered:
            if self.status is not None and self.status >= 300:
                return TASK_FAILED
            word = self.answer.get("status") if isinstance(self.answer, dict) else None
            return word if word in HOST_WORDS else TAKEN
        return REFUSED if self.status is not None and not self.retry else None


def callback_policy(settings: JobSettings) -> DestinationPolicy:
    """Where callbacks may go: checked when a job is accepted and on every connection."""
    return DestinationPolicy(
        allow=settings.callback_allow, allow_loopback=settings.allow_callback_loopback, max_concurrent=16
    )


def checked_callback_url(policy: DestinationPolicy, value: Any) -> str | None:
    """The call's ``spiff__callback_url`` if the policy could send to it; a bad one is refused now,
    not after a day of retries."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        raise _refused(f"must be a string of at most {MAX_URL_LENGTH} characters holding an http(s) URL")
    try:
        scheme, host, port = parse_destination(value)
    except ValueError as problem:
        raise _refused(f"is not a usable URL: {problem}") from None
    if not policy.may_allow(host, port, scheme):
        raise _refused(f"{origin_of(value)} is not in jobs.callback_allow")
    if literal_address(host) is not None:  # a name is checked on its addresses, when connecting
        try:
            policy.check(host, host, port, scheme)
        except DestinationBlocked as blocked:
            raise _refused(str(blocked)) from None
    return value


def _refused(problem: str) -> CommandError:
    return CommandError(INVALID_CALLBACK_URL, f"spiff__callback_url {problem}")


# a SpiffWorkflow host answers a callback 200 {"ok": true, "status": "completed" | "retry_scheduled"}
HOST_WORDS = ("completed", "retry_scheduled")
TAKEN = "taken"  # a 2xx without one of those words: another host, or an older one
REFUSED = "refused"  # 4xx: the task no longer waits or the body is bad; final, as the host says
# the host took an error no boundary event catches and failed the task (and its instance): it answers that
# 400 unexpected_workflow_exception, UncaughtServiceTaskError (measured on spiff-arena's backend)
TASK_FAILED = "task_failed"
CREDENTIALS_REFUSED = "credentials_refused"  # 401/403: jobs.callback_headers are wrong or expired
CREDENTIAL_STATUSES = (401, 403)


def failed_the_task(status: int, answer: object) -> bool:
    """The host's answer to an error it took and raised in the task (no boundary event caught it)."""
    return (
        status == 400
        and isinstance(answer, dict)
        and answer.get("error_code") == "unexpected_workflow_exception"
        and answer.get("error_type") == "UncaughtServiceTaskError"
    )


class CallbackSender:
    """One pool per process, the configured headers, and the callback destination policy."""

    def __init__(self, settings: JobSettings) -> None:
        self._pool = pool_manager(callback_policy(settings))
        self._headers = {"Content-Type": "application/json", **dict(settings.callback_header_pairs)}
        self._timeout = Timeout(connect=min(5.0, settings.delivery_timeout), read=settings.delivery_timeout)
        self._give_up_after = settings.delivery_give_up_after

    def deliver(self, job: Job) -> None:
        """Try once; record the outcome (and when to try again) on the job."""
        if job.callback_url is None or job.envelope is None:
            return
        with tracing.span(f"callback {job.command}", parent=job.traceparent, connector_proxy__job_id=job.id):
            attempt = self._send(job.callback_url, jsontext.dumps(job.envelope))
            if not attempt.delivered:
                tracing.failed(attempt.error or "not delivered")
        job.delivery.attempts += 1
        job.delivery.last_error = attempt.error
        job.delivery.host_status, job.delivery.host_answer = attempt.status, attempt.answer
        job.delivery.outcome = attempt.outcome
        if attempt.outcome is not None:
            CALLBACK_OUTCOMES.labels(attempt.outcome).inc()
        origin = origin_of(job.callback_url)
        if attempt.outcome == REFUSED and job.delivery.resent_after is not None:
            _refused_again(job, attempt, origin)
            return
        if attempt.delivered:
            job.delivery.state, job.delivery.delivered_at, job.delivery.next_at = DELIVERED, time.time(), None
            CALLBACKS.labels("delivered").inc()
            log.info("job %s: result delivered to %s (%s)", job.id, origin, attempt.outcome)
            return
        if attempt.outcome == CREDENTIALS_REFUSED:
            log.error("job %s: %s refused the callback's credentials (jobs.callback_headers)", job.id, origin)
        waited = time.time() - (job.finished_at or time.time())
        delay = backoff(job.delivery.attempts, FIRST_DELAY, MAX_DELAY)
        if attempt.retry and waited + delay <= self._give_up_after:
            job.delivery.state, job.delivery.next_at = PENDING, time.time() + delay
            CALLBACKS.labels("retrying").inc()
            log.warning(
                "job %s: delivery to %s failed (%s); retrying in %.1f s", job.id, origin, attempt.error, delay
            )
            return
        job.delivery.state, job.delivery.next_at = UNDELIVERABLE, None
        CALLBACKS.labels("undeliverable").inc()
        log.error("job %s: result undeliverable to %s: %s", job.id, origin, attempt.error)

    def _send(self, url: str, body: bytes) -> Attempt:
        try:
            response = self._pool.urlopen(
                "PUT",
                url,
                body=body,
                headers=self._headers,
                timeout=self._timeout,
                pool_timeout=self._timeout.read_timeout,  # a wait in line for the host ends with the attempt
                retries=False,
            )
        except DestinationBlocked as blocked:
            return Attempt(False, False, f"the callback destination is refused: {blocked}")
        except (HTTPError, OSError) as error:
            return Attempt(False, True, f"{type(error).__name__}: the host could not be reached")
        answer = read_answer(response)
        if response.status < 300 or failed_the_task(response.status, answer):
            return Attempt(True, False, None, response.status, answer)
        refused = f"the host answered {response.status}"
        # refused credentials are retried too: the operator mends them, and the result must not be lost
        retry = is_transient(response.status) or response.status in CREDENTIAL_STATUSES
        return Attempt(False, retry, refused, response.status, answer)


def _refused_again(job: Job, attempt: Attempt, origin: str) -> None:
    """A resend of a delivered callback the host refuses (its task completed already, so it no
    longer waits): the earlier delivery stands, and the refusal is one of the job's actions."""
    job.resend_refused(attempt.status, attempt.answer)
    log.warning(
        "job %s: %s refused the callback sent again (%s); delivered before", job.id, origin, attempt.error
    )

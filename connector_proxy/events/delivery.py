"""Sending a stored event to the host as a BPMN message, retried until it is taken or given up.

``POST <events.host_url>/messages/<name, slashes as colons>?message_instance_uuid=<uuid>`` (with
``execution_mode`` and ``time_to_live_in_seconds`` when configured) with the payload as JSON and the
service account's ``SpiffWorkflow-Api-Key``. The uuid is derived from the event, so a message sent
twice (a crash between the host's answer and our record of it) is one message to the host.
Connection errors, timeouts, 408, 429 and 5xx are retried with backoff until
``events.give_up_after`` since the event arrived; any other refusal is final, and so is a 2xx
whose message instance failed or was not accepted. Either way the event ends ``dead``, with the
host's answer kept for the operator.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import quote, urlencode

from urllib3 import Timeout
from urllib3.exceptions import HTTPError

from connector_proxy.config import EventSettings
from connector_proxy.events.model import DEAD, DELIVERED, StoredEvent
from connector_proxy.host import jsontext
from connector_proxy.host.replies import read_answer
from connector_proxy.sdk import tracing
from connector_proxy.sdk.destinations import DestinationBlocked, DestinationPolicy
from connector_proxy.sdk.errors import is_transient
from connector_proxy.sdk.outbound import origin_of, pool_manager
from connector_proxy.sdk.retrying import backoff
from connector_proxy.telemetry.metrics import EVENT_DELIVERIES

log = logging.getLogger(__name__)
HOST_KEY_HEADER = "SpiffWorkflow-Api-Key"
FIRST_DELAY = 1.0  # then 2, 4 … up to 5 minutes, each with up to half taken off at random
MAX_DELAY = 300.0
REFUSED = ("failed", "not_accepted", "cancelled")  # a message instance's states that ran nothing


class MessageSender:
    """One pool per process to the host (and nowhere else), and the service account's key."""

    def __init__(self, settings: EventSettings) -> None:
        self.settings = settings
        self._root = settings.host_url.rstrip("/")
        policy = DestinationPolicy(allow=(origin_of(self._root),), allow_loopback=True, max_concurrent=32)
        self._pool = pool_manager(policy)
        self._headers = {"Content-Type": "application/json"}
        if settings.host_api_key:
            self._headers[HOST_KEY_HEADER] = settings.host_api_key
        self._timeout = Timeout(connect=min(5.0, settings.delivery_timeout), read=settings.delivery_timeout)

    def url(self, event: StoredEvent) -> str:
        name = quote(event.message.replace("/", ":"), safe=":")
        query = {"message_instance_uuid": event.message_instance_uuid}
        if self.settings.execution_mode:  # unset by default: a host without Celery refuses asynchronous
            query["execution_mode"] = self.settings.execution_mode
        if self.settings.time_to_live_in_seconds:
            query["time_to_live_in_seconds"] = str(self.settings.time_to_live_in_seconds)
        return f"{self._root}/messages/{name}?{urlencode(query)}"

    def deliver(self, event: StoredEvent) -> None:
        """Send once; record the outcome (and when to try again) on the event."""
        event.attempts += 1
        named = {
            "connector_proxy__subscription": event.subscription,
            "connector_proxy__message": event.message,
        }
        with tracing.span(f"deliver message {event.message}", parent=event.traceparent, **named):
            retry, error = self._send(event)
            if error is not None:
                tracing.failed(error)
        if error is None:  # the record says what is true now: the retries' cause is in the log
            event.state, event.delivered_at, event.next_at, event.last_error = (
                DELIVERED,
                time.time(),
                None,
                None,
            )
            EVENT_DELIVERIES.labels(event.subscription, "delivered").inc()
            log.info("event %s (%s): message %s delivered", event.id, event.subscription, event.message)
            return
        event.last_error = error
        delay = backoff(event.attempts, FIRST_DELAY, MAX_DELAY)
        trying_since = event.retried_at or event.received_at
        if retry and time.time() - trying_since + delay <= self.settings.give_up_after:
            event.next_at = time.time() + delay
            EVENT_DELIVERIES.labels(event.subscription, "retrying").inc()
            log.warning("event %s (%s): %s; retrying in %.1f s", event.id, event.subscription, error, delay)
            return
        event.state, event.next_at = DEAD, None
        EVENT_DELIVERIES.labels(event.subscription, "dead").inc()
        log.error("event %s (%s): dead-lettered: %s", event.id, event.subscription, error)

    def _send(self, event: StoredEvent) -> tuple[bool, str | None]:
        """Whether to try again, and what went wrong (None: the host took it)."""
        try:
            response = self._pool.urlopen(
                "POST",
                self.url(event),
                body=jsontext.dumps(event.payload),
                headers=self._headers,
                timeout=self._timeout,
                pool_timeout=self.settings.delivery_timeout,
                retries=False,
                preload_content=True,
            )
        except DestinationBlocked as blocked:
            return False, f"the host's address is refused: {blocked}"
        except (HTTPError, OSError) as error:
            return True, f"{type(error).__name__}: the host could not be reached"
        event.host_status, event.host_answer = response.status, read_answer(response)
        if response.status < 300:
            refused = _refused_status(event.host_answer)
            return False, f"the host answered {response.status}, its message {refused}" if refused else None
        retry = is_transient(response.status) or response.status == 408
        return retry, f"the host answered {response.status}"


def _refused_status(answer: object) -> str | None:
    """A 2xx can carry a message the host did not take (a replayed answer, say): its status, if so."""
    instance = answer.get("message_instance") if isinstance(answer, dict) else None
    status = instance.get("status") if isinstance(instance, dict) else None
    return status if status in REFUSED else None

"""Each worker process's inbound threads: deliver due events, and run the pollers it holds.

Every process tries for every polling subscription's lease each turn; the store gives it to
one (renewed while it lives, free again ``events.lease_seconds`` after it dies), so each
subscription has one poller across all workers and machines. A poll's events are stored with
its new cursor in one transaction, and only while the lease holds: a poll repeated after a
crash finds the same events, which the store keeps once.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence

from connector_proxy.config import EventSettings
from connector_proxy.events.delivery import MessageSender
from connector_proxy.events.registrar import Registrar
from connector_proxy.events.store import EventStore, LeaseLost, Poll
from connector_proxy.events.subscriptions import Subscription
from connector_proxy.host import jsontext
from connector_proxy.sdk import tracing
from connector_proxy.sdk.context import CallIds, identified
from connector_proxy.sdk.errors import CommandError
from connector_proxy.sdk.invocation import exception_name
from connector_proxy.stores.leases import new_owner
from connector_proxy.telemetry.metrics import EVENTS_RECEIVED, POLLS

log = logging.getLogger(__name__)
TURN = 1.0  # seconds between looks for due deliveries other processes stored, and for due polls
PRUNE_EVERY = 60.0


class EventThreads:
    """Started in each worker process after the fork (see :mod:`connector_proxy.process.services`)."""

    def __init__(
        self,
        store: EventStore,
        settings: EventSettings,
        pollers: Sequence[Subscription],
        registrar: Registrar | None = None,
    ) -> None:
        self.store = store
        self.registrar = registrar
        self.settings = settings
        self.pollers = pollers
        self.owner = ""
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sender: MessageSender | None = None

    def wake(self) -> None:
        """An event was stored in this process: a delivery thread sends it now (others look each turn)."""
        self._wake.set()

    def start(self) -> None:
        self.owner = new_owner()
        self._stopping.clear()
        loops: list[Callable[[], None]] = [self._poll_and_prune]
        if self.settings.host_url:  # none when only a registrar runs (no subscription bound yet)
            self._sender = MessageSender(self.settings)  # its pool belongs to this process
            loops += [self._deliver] * self.settings.delivery_threads
        if self.registrar is not None:  # its calls to sources take seconds: never in the pollers' way
            loops.append(self._register)
        self._threads = [threading.Thread(target=loop, daemon=True, name="events") for loop in loops]
        for thread in self._threads:
            thread.start()

    def stop(self, grace: float) -> None:
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for subscription in self.pollers:
            try:
                self.store.release_lease(subscription.name, self.owner)  # another worker polls at once
            except Exception:  # the store is gone: the lease expires by itself
                log.warning("could not release the lease of subscription %s", subscription.name)
        if self.registrar is not None:
            try:
                self.registrar.release(self.owner)
            except Exception:
                log.warning("could not release the registrar's lease")

    def _deliver(self) -> None:
        # a claimed event is off limits to other processes this long: a wait for a pooled
        # connection, the connect and the answer each take up to delivery_timeout
        hold = 3 * self.settings.delivery_timeout + 5
        while not self._stopping.is_set():
            try:
                event = self.store.claim_due(hold)
                if event is None:
                    self._wake.wait(TURN)
                    self._wake.clear()
                    continue
                assert self._sender is not None
                with identified(CallIds(event.request_id)):  # the POST carries the receiving request's id
                    self._sender.deliver(event)
                self.store.save(event)
            except Exception:  # the store failed (locked, unreachable): try again next turn
                log.exception("the event delivery loop failed; it goes on")
                self._stopping.wait(TURN)

    def _poll_and_prune(self) -> None:
        due = {subscription.name: 0.0 for subscription in self.pollers}
        pruned = time.monotonic()
        while not self._stopping.is_set():
            for subscription in self.pollers:
                if self._stopping.is_set():
                    break
                try:
                    if self.store.hold_lease(subscription.name, self.owner, self.settings.lease_seconds):
                        if time.monotonic() >= due[subscription.name]:
                            found = self._poll(subscription)
                            due[subscription.name] = time.monotonic() + (
                                TURN if found else subscription.interval
                            )
                    else:
                        due[subscription.name] = 0.0  # whoever takes the lease next polls at once
                except Exception:
                    log.exception("subscription %s: the poller failed; it goes on", subscription.name)
            if time.monotonic() - pruned > PRUNE_EVERY:
                self._prune()
                pruned = time.monotonic()
            self._stopping.wait(TURN)

    def _register(self) -> None:
        assert self.registrar is not None
        while not self._stopping.is_set():
            try:
                with identified(CallIds(uuid.uuid4().hex)):
                    self.registrar.turn(self.owner)
            except Exception:  # the store failed: the next turn tries again
                log.exception("setting subscriptions up at their sources failed; it goes on")
            self._stopping.wait(TURN)

    def _poll(self, subscription: Subscription) -> int:
        """One poll under the lease; how many events it found (another poll follows soon if any)."""
        with identified(CallIds(uuid.uuid4().hex)), tracing.span(f"poll {subscription.name}"):
            ctx = subscription.context(self.settings.poll_timeout)
            cursor = self.store.cursor(subscription.name)
            try:
                with ctx.running():
                    events, new_cursor = subscription.trigger.trigger.function(ctx, cursor)
                jsontext.dumps(new_cursor)  # it is stored as JSON
            except CommandError as error:
                self._polled(subscription.name, "failed", 0, f"{error.error_code}: {error}")
                log.warning(
                    "subscription %s: poll failed: %s: %s", subscription.name, error.error_code, error
                )
                return 0
            except Exception as error:  # a trigger is third-party code
                raised = exception_name(error)
                self._polled(subscription.name, "failed", 0, f"the trigger raised {raised}")
                log.exception("subscription %s: poll raised %s", subscription.name, raised)
                return 0
            records = [subscription.stored(event) for event in events]
            try:
                created = self.store.add(records, Poll(subscription.name, self.owner, new_cursor))
            except LeaseLost:
                self._polled(subscription.name, "lease_lost", 0, None)
                log.warning("subscription %s: lease lost before the poll was stored", subscription.name)
                return 0
            self._polled(subscription.name, "ok", len(records), None)
            count_received(subscription.name, created)
            self._acknowledge(subscription, ctx, list(events))
            if any(created):
                self._wake.set()
            return len(records)

    def _polled(self, subscription: str, result: str, found: int, error: str | None) -> None:
        """Counted for /metrics, and kept by the store for the operations view."""
        POLLS.labels(subscription, result).inc()
        try:
            self.store.record_poll(subscription, result, found, error)
        except Exception:  # the record is for the operator's eyes: a store hiccup costs no poll
            log.exception("subscription %s: its poll record was not kept", subscription)

    def _acknowledge(self, subscription: Subscription, ctx: object, events: list[object]) -> None:
        acknowledge = subscription.trigger.trigger.acknowledge
        if acknowledge is None or not events:
            return
        try:
            acknowledge(ctx, events)
        except Exception:  # stored already: an unacknowledged event comes again and is kept once
            log.exception("subscription %s: acknowledging %s event(s) failed", subscription.name, len(events))

    def _prune(self) -> None:
        """Finished events, and records of registrations removed, older than events.keep_delivered."""
        older_than = time.time() - self.settings.keep_delivered
        try:
            gone = self.store.prune(older_than)
            forgotten = self.store.prune_registrations(older_than)
        except Exception:
            log.exception("pruning old events or registration records failed")
            return
        if gone:
            log.info("%s delivered or dead event(s) older than events.keep_delivered removed", gone)
        if forgotten:
            log.info("%s registration record(s) removed before events.keep_delivered forgotten", forgotten)


def count_received(subscription: str, created: Sequence[bool]) -> None:
    new = sum(created)
    if new:
        EVENTS_RECEIVED.labels(subscription, "stored").inc(new)
    if len(created) - new:
        EVENTS_RECEIVED.labels(subscription, "duplicate").inc(len(created) - new)

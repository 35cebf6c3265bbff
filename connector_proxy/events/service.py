"""The one entry point into inbound events for the web layer and the CLI: receive, look up, count.

Nothing outside ``events/`` touches an event store; they ask :class:`Events`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from jsonschema.protocols import Validator

from connector_proxy.calls.registry import Registry
from connector_proxy.calls.validation import problems_of
from connector_proxy.config import Settings
from connector_proxy.events.background import EventThreads, count_received
from connector_proxy.events.model import DEAD, PENDING, StoredEvent
from connector_proxy.events.registrar import Registrar, with_secret
from connector_proxy.events.registration import FAILING, REMOVED, Registration
from connector_proxy.events.sqlite import SCHEMA, SqliteEventStore
from connector_proxy.events.store import EventStore
from connector_proxy.events.subscriptions import Subscription, bind_subscriptions
from connector_proxy.host import jsontext
from connector_proxy.host.error_codes import (
    EVENT_NOT_DEAD,
    EVENT_NOT_FOUND,
    INVALID_EVENT,
    SUBSCRIPTION_NOT_REGISTERED,
    TRIGGER_FAILED,
)
from connector_proxy.sdk import tracing
from connector_proxy.sdk.errors import CommandError
from connector_proxy.sdk.invocation import exception_name
from connector_proxy.sdk.triggers import POLLER, WEBHOOK, Event, InboundRequest
from connector_proxy.secrets.record_encryption import Sealer
from connector_proxy.stores.sqlite_file import SqliteFile
from connector_proxy.telemetry.metrics import EVENTS_RECEIVED

log = logging.getLogger(__name__)
WEBHOOK_SECONDS = 5.0  # a webhook's function only reads the request: its sender is waiting for the 202


class Events:
    """Webhook events verified, validated, mapped and stored before they are acknowledged."""

    def __init__(
        self,
        store: EventStore,
        subscriptions: Mapping[str, Subscription],
        problems: Mapping[str, str],
        background: EventThreads | None,
    ) -> None:
        self._secrets: dict[str, str] = {}  # generated signing secrets, by subscription, read from the store
        self.store = store
        self.subscriptions = subscriptions
        self.problems = problems  # subscriptions left out, and why (readiness shows them)
        self.background = background
        self._webhooks: dict[str, list[Subscription]] = {}  # by trigger id: looked up on every request
        for subscription in subscriptions.values():
            if subscription.trigger.trigger.kind == WEBHOOK:
                self._webhooks.setdefault(subscription.trigger.id, []).append(subscription)

    def webhook(self, trigger_id: str, name: str | None) -> Subscription | None:
        """The webhook subscription a path names; without a name, the trigger's only subscription."""
        matching = self._webhooks.get(trigger_id, [])
        if name is not None:
            return next((s for s in matching if s.name == name), None)
        return matching[0] if len(matching) == 1 else None

    def receive(self, subscription: Subscription, request: InboundRequest) -> list[tuple[StoredEvent, bool]]:
        """Verify, validate, map and store; the events with True for each one new. Raises CommandError."""
        with tracing.span(f"receive {subscription.name}", connector_proxy__trigger=subscription.trigger.id):
            return self._receive(subscription, request)

    def _receive(self, subscription: Subscription, request: InboundRequest) -> list[tuple[StoredEvent, bool]]:
        trigger = subscription.trigger.trigger
        try:
            assert trigger.verifier is not None  # the SDK requires one for a webhook
            subscription = self._verify(subscription, request)
            request = replace(request, json=_parsed(request.body, subscription.validator is not None))
            if subscription.validator is not None:
                _check_payload(subscription.validator, request.json)
            records = [subscription.stored(event) for event in self._events(subscription, request)]
        except CommandError:
            EVENTS_RECEIVED.labels(subscription.name, "refused").inc()
            raise
        unmapped = next((record for record in records if record.state == DEAD), None)
        if unmapped is not None:  # the sender can fix its event: refuse it rather than keep it dead
            EVENTS_RECEIVED.labels(subscription.name, "refused").inc()
            raise CommandError(INVALID_EVENT, f"subscription {subscription.name}: {unmapped.last_error}")
        created = self.store.add(records)
        count_received(subscription.name, created)
        if self.background is not None and any(created):
            self.background.wake()
        # a duplicate is answered as it is stored (delivered, say), not as the copy just made of it
        answered = [
            record if new else self.store.get(record.id) or record
            for record, new in zip(records, created, strict=True)
        ]
        return list(zip(answered, created, strict=True))

    def _verify(self, subscription: Subscription, request: InboundRequest) -> Subscription:
        """Verified by the subscription's secret: the operator's, or the one generated when it was set
        up at its source (cached; read again once if it fails, as a re-registration changes it)."""
        trigger = subscription.trigger.trigger
        assert trigger.verifier is not None  # the SDK requires one for a webhook
        name = trigger.generated_secret
        if name is None or subscription.settings.get(name):
            trigger.verifier(subscription.settings, request, time.time())
            return subscription
        cached = self._secrets.get(subscription.name)
        for fresh in (False, True) if cached else (True,):
            secret = self._secret(subscription.name) if fresh else cached
            settings = with_secret(subscription, secret)
            try:
                trigger.verifier(settings, request, time.time())
            except CommandError:
                if fresh:
                    raise
                continue
            return replace(subscription, settings=settings)
        raise AssertionError("unreachable")  # the fresh try returns or raises

    def _secret(self, subscription: str) -> str | None:
        record = self.store.registration(subscription)
        secret = record.secret if record is not None and record.state != REMOVED else None
        if secret:
            self._secrets[subscription] = secret
        return secret

    def registrations(self) -> dict[str, Registration]:
        """Each subscription's registration at its source, as the store keeps it."""
        return {record.subscription: record for record in self.store.registrations()}

    def failing_registrations(self) -> dict[str, str]:
        """Subscriptions whose registration (or removal) at the source fails, and the source's answer."""
        return {
            record.subscription: record.last_error or ""
            for record in self.store.registrations()
            if record.state == FAILING
        }

    def register_again(self, name: str, by: str) -> Registration:
        """An operator's request to set a subscription up at its source again (tear down, set up)."""
        subscription = self.subscriptions.get(name)
        if subscription is None or not subscription.trigger.trigger.registered_with(subscription.settings):
            raise CommandError(
                SUBSCRIPTION_NOT_REGISTERED,
                f"No configured subscription {name!r} whose trigger registers itself at its source",
            )
        # a note beside the record: the registrar's lease holder alone writes records, so a request
        # racing its set-up can never overwrite what the source just answered
        self.store.request_registration(name, time.time())
        record = self.store.registration(name) or Registration(name, subscription.trigger.id)
        log.info("subscription %s is set up at its source again at an operator's request (%s)", name, by)
        if self.background is not None:
            self.background.wake()
        return record

    def _events(self, subscription: Subscription, request: InboundRequest) -> list[Event]:
        bound = subscription.trigger
        ctx = subscription.context(WEBHOOK_SECONDS)
        try:
            with ctx.running():
                answer = bound.trigger.function(ctx, request)
        except CommandError:
            raise
        except Exception as error:  # a trigger is third-party code
            raised = exception_name(error)
            bound.logger.exception("trigger %s raised %s", bound.id, raised)
            raise CommandError(
                TRIGGER_FAILED, f"The trigger {bound.id} failed ({raised}); see the daemon's log"
            ) from None
        events = [answer] if isinstance(answer, Event) else answer
        if not (isinstance(events, list | tuple) and all(_is_event(event) for event in events)):
            raise CommandError(TRIGGER_FAILED, f"The trigger {bound.id} returned something other than events")
        return list(events)

    def get(self, event_id: str) -> StoredEvent | None:
        return self.store.get(event_id)

    def retry(self, event: StoredEvent) -> None:
        """A dead event pending again, due now (its attempts and last error kept); the give-up time
        counts from now, so a message refused until a model was deployed can go out."""
        if event.state != DEAD:
            raise CommandError(
                EVENT_NOT_DEAD, f"Event {event.id} is {event.state}; only a dead one is retried"
            )
        event.state, event.next_at, event.retried_at = PENDING, time.time(), time.time()
        event.retries += 1  # a new message_instance_uuid: the host would replay its refusal of the old
        self.store.save(event)
        if self.background is not None:
            self.background.wake()

    def retry_by_id(self, event_id: str, by: str) -> StoredEvent:
        """An operator's retry of a dead event (``by``: api or page), logged."""
        event = self.store.get(event_id)
        if event is None:
            raise CommandError(EVENT_NOT_FOUND, f"No event {event_id!r}")
        self.retry(event)
        log.info("event %s (%s) is sent again at an operator's request (%s)", event.id, event.message, by)
        return event

    def list(self, state: str | None, limit: int) -> list[StoredEvent]:
        return self.store.list(state, limit)

    def polls(self) -> dict[str, dict[str, Any]]:
        """Each polled subscription's last poll, last success, failures in a row and last error."""
        return self.store.polls()

    def counts(self) -> dict[str, int]:
        return self.store.counts()

    def ping(self) -> None:
        self.store.ping()

    def recover(self) -> None:
        """Before any worker forks: deliveries and poller leases a stop left held are free again."""
        self.store.recover()


def _is_event(event: Any) -> bool:
    """An Event with a key, whose data can be stored (written as the answers are: what JSON cannot
    hold becomes text; only nesting too deep for the writer cannot be kept)."""
    if not (isinstance(event, Event) and isinstance(event.key, str) and event.key):
        return False
    try:
        jsontext.dumps(event.data)
    except jsontext.Unrenderable:
        return False
    return True


def _parsed(body: bytes, required: bool) -> Any:
    """The body's JSON (strict: no NaN, no lone surrogates); None if it is not JSON and need not be."""
    try:
        return jsontext.loads(body) if body.strip() else None
    except jsontext.NotStrictJson as problem:
        if required:
            raise CommandError(INVALID_EVENT, str(problem)) from None
        return None


def _check_payload(validator: Validator, document: Any) -> None:
    problems = problems_of(validator, document)
    if problems:
        listed = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise CommandError(
            INVALID_EVENT, f"The event does not fit the trigger's schema: {listed}", details=problems
        )


def _registers(subscriptions: Iterable[Subscription], store: EventStore) -> bool:
    """A subscription is set up at its source, or one removed may still need tearing down there."""
    if any(_perhaps_registers(s) for s in subscriptions):
        return True
    try:
        return any(record.state != REMOVED for record in store.registrations())
    except Exception:  # the store is away at start-up: look each turn, as if one may need tearing down
        log.warning("could not read the registrations at start-up", exc_info=True)
        return True


def _perhaps_registers(subscription: Subscription) -> bool:
    """Whether it may be set up at its source, known without asking an isolated connector's worker (at
    start-up, in gunicorn's master, none is asked: the registrar asks in each worker process)."""
    trigger = subscription.trigger.trigger
    if trigger.subscribe is not None and getattr(trigger.registers, "asks_a_worker", False):
        return True
    return trigger.registered_with(subscription.settings)


def create_events(settings: Settings, registry: Registry) -> Events:
    """The store beside the jobs' (their SQLite file, or their Redis), and the subscriptions bound."""
    sealer = Sealer(settings.jobs.encryption_keys)
    store: EventStore
    if settings.jobs.backend == "celery":
        from connector_proxy.events.redis_store import RedisEventStore

        store = RedisEventStore(settings.jobs, settings.events, sealer)
    else:
        store = SqliteEventStore(SqliteFile(settings.sqlite_path, SCHEMA), sealer)
    bound = bind_subscriptions(settings, registry)
    pollers: Sequence[Subscription] = [s for s in bound.ready.values() if s.trigger.trigger.kind == POLLER]
    registrar = None
    if _registers(bound.ready.values(), store):
        registrar = Registrar(store, settings.events, bound.ready, registry.triggers, time.time())
    background = None
    if bound.ready or registrar is not None:
        background = EventThreads(store, settings.events, pollers, registrar)
    return Events(store, bound.ready, bound.problems, background)

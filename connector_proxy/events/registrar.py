"""Setting subscriptions up at their sources: one process does it, under a lease in the store.

Every worker of every daemon sharing the store tries for one lease each turn; its holder
compares each subscription whose trigger can ``subscribe`` with its registration record:
one new (or removed before) is set up, one whose trigger, settings or URL changed is torn
down then set up, one an operator asked for is set up again, one whose subscription is
gone is torn down. A failure is kept with the source's answer and tried again with backoff.
A configuration older than the one that wrote a record never undoes it (the old workers of
a reload, an older daemon sharing the store).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any

from connector_proxy.calls.registry import BoundTrigger
from connector_proxy.config import EventSettings
from connector_proxy.events.registration import FAILING, PENDING, REGISTERED, REMOVED, Registration
from connector_proxy.events.store import EventStore
from connector_proxy.events.subscriptions import Subscription, trigger_context
from connector_proxy.host import jsontext
from connector_proxy.host.error_codes import TRIGGER_FAILED
from connector_proxy.sdk.errors import CommandError
from connector_proxy.sdk.invocation import exception_name
from connector_proxy.sdk.masking import mask
from connector_proxy.sdk.paths import url_path
from connector_proxy.sdk.retrying import backoff
from connector_proxy.telemetry.metrics import SUBSCRIPTION_REGISTRATIONS

log = logging.getLogger(__name__)
LEASE = "*registrar"  # a poller's lease names a subscription; no subscription's name starts with *
FIRST_RETRY, LAST_RETRY = 1.0, 300.0  # seconds: a source that is down is asked again, doubling to 5 min
MAX_ERROR = 500  # characters of the source's answer kept
MAX_REGISTRATION = 64 * 1024  # bytes of JSON a trigger's registration may hold


class Registrar:
    def __init__(
        self,
        store: EventStore,
        settings: EventSettings,
        subscriptions: Mapping[str, Subscription],
        triggers: Mapping[str, BoundTrigger],
        configured_at: float,
    ) -> None:
        self.store = store
        self.settings = settings
        # those whose trigger can set them up; whether their settings ask for it is known each turn
        self.subscriptions = {name: s for name, s in subscriptions.items() if s.trigger.trigger.subscribe}
        self._registers: dict[str, bool] = {}  # each one's registered_with, once known
        self.triggers = triggers
        self.configured_at = configured_at
        self._owner = ""

    def _held(self) -> bool:
        """Take or renew the lease: before each call to a source too, as one may take a while."""
        return self.store.hold_lease(LEASE, self._owner, self.settings.lease_seconds)

    def turn(self, owner: str) -> None:
        """One look at every registration, if this process holds the registrar's lease."""
        self._owner = owner
        if not self._held():
            return
        stored = {record.subscription: record for record in self.store.registrations()}
        requests = self.store.registration_requests()  # an operator's, noted beside the records
        registered, unknown = self._registered()
        now = time.time()
        for name, subscription in registered.items():
            self._configured(subscription, stored.get(name), now, requests.get(name))
        for name, record in stored.items():
            gone = name not in registered and name not in unknown and record.state != REMOVED
            if gone and record.configured_at <= self.configured_at:
                self._gone(record, now)

    def _registered(self) -> tuple[dict[str, Subscription], set[str]]:
        """The subscriptions set up at their sources, and those not known yet: an isolated trigger's
        ``registers`` is asked of its worker here, in this process's registrar, once; one that cannot
        be asked now is neither set up nor torn down this turn."""
        unknown = set()
        for name, subscription in self.subscriptions.items():
            if name in self._registers:
                continue
            try:
                self._registers[name] = subscription.trigger.trigger.registered_with(subscription.settings)
            except Exception as error:  # a trigger's code, or its worker, failed: asked again next turn
                unknown.add(name)
                log.warning("subscription %s: could not tell whether it registers: %s", name, error)
        registered = {name: s for name, s in self.subscriptions.items() if self._registers.get(name)}
        return registered, unknown

    def release(self, owner: str) -> None:
        self.store.release_lease(LEASE, owner)

    def url(self, subscription: Subscription) -> str:
        bound = subscription.trigger
        path = url_path("v1", "inbound", bound.connector, bound.trigger.name, subscription.name)
        return self.settings.public_url.rstrip("/") + path

    def _configured(
        self, subscription: Subscription, record: Registration | None, now: float, requested: float | None
    ) -> None:
        url = self.url(subscription)
        print_ = fingerprint(subscription, url)
        if record is not None and record.configured_at > self.configured_at:
            return  # a newer configuration set it up or removed it: not ours to undo
        if record is None or record.state == REMOVED:
            record = Registration(subscription.name, subscription.trigger.id)
        elif not (requested is not None or _due(record, print_, now)):
            return
        if requested is not None:  # taken now, by the lease's holder: a newer request stays for later
            self.store.take_registration_request(subscription.name, requested)
        self._set_up(subscription, record, url, print_)

    def _set_up(self, subscription: Subscription, record: Registration, url: str, print_: str) -> None:
        bound = subscription.trigger
        trigger = bound.trigger
        assert trigger.subscribe is not None
        record.configured_at, record.requested, record.removing = self.configured_at, False, False
        record.fingerprint = print_  # what is being tried: a failure waits for its backoff unless it changes
        if not self.settings.public_url:
            self._failed(record, "events.public_url is not set: the source cannot be told where to post")
            return
        if record.registration is not None and not self._tear_down(record):
            return
        if not self._held():
            return  # another process took over: it sets this one up
        secret = self._secret(subscription)
        record.state, record.url, record.settings, record.secret = (
            PENDING,
            url,
            dict(subscription.settings),
            secret,
        )
        self.store.save_registration(record.touched())  # the secret first: a source may post at once
        try:
            ctx = trigger_context(bound, with_secret(subscription, secret), self.settings.poll_timeout)
            with ctx.running():
                answer = trigger.subscribe(ctx, url, secret)
            if len(jsontext.dumps(answer)) > MAX_REGISTRATION:
                raise CommandError(TRIGGER_FAILED, "the registration it returned is over 64 KiB of JSON")
        except Exception as error:  # a trigger is third-party code
            self._failed(record, _why(bound, error))
            return
        record.state, record.registration = REGISTERED, answer
        record.attempts, record.next_at, record.last_error = 0, None, None
        self.store.save_registration(record.touched())
        SUBSCRIPTION_REGISTRATIONS.labels(record.subscription, "registered").inc()
        log.info("subscription %s: registered at its source (%s)", record.subscription, bound.id)

    def _secret(self, subscription: Subscription) -> str | None:
        name = subscription.trigger.trigger.generated_secret
        if name is None:
            return None
        given = subscription.settings.get(name)
        return given if isinstance(given, str) and given else secrets.token_urlsafe(32)

    def _gone(self, record: Registration, now: float) -> None:
        if record.state == FAILING and now < (record.next_at or 0):
            return
        record.removing, record.configured_at = True, self.configured_at  # an older one re-adds it not
        if record.registration is not None and not self._tear_down(record):
            return
        record.state, record.settings, record.secret, record.fingerprint = REMOVED, None, None, ""
        record.attempts, record.next_at, record.last_error = 0, None, None
        self.store.save_registration(record.touched())
        SUBSCRIPTION_REGISTRATIONS.labels(record.subscription, "removed").inc()
        log.info("subscription %s: removed at its source", record.subscription)

    def _tear_down(self, record: Registration) -> bool:
        """Remove the hook the record holds; False (and the record failing) if that failed."""
        bound = self.triggers.get(record.trigger)
        if bound is None or bound.trigger.unsubscribe is None:
            log.warning(
                "subscription %s: trigger %s is gone; its hook at the source is left",
                record.subscription,
                record.trigger,
            )
            record.registration = None
            return True
        if not self._held():
            return False  # another process took over; this record is left as it was for it
        settings = dict(record.settings or {})
        if bound.trigger.generated_secret and record.secret:
            settings.setdefault(bound.trigger.generated_secret, record.secret)
        try:
            ctx = trigger_context(bound, settings, self.settings.poll_timeout)
            with ctx.running():
                bound.trigger.unsubscribe(ctx, record.registration)
        except Exception as error:  # a trigger is third-party code
            self._failed(record, _why(bound, error))
            return False
        record.registration = None
        self.store.save_registration(record.touched())  # the lease may pass before the set-up: say so
        log.info("subscription %s: its hook at the source was removed", record.subscription)
        return True

    def _failed(self, record: Registration, why: str) -> None:
        if record.secret:  # a source may echo what it was sent: its answer is shown and logged
            why = why.replace(record.secret, "[secret]")
        why = mask(why)  # and every other secret it was sent (register_headers' token): shown by the API too
        record.state, record.attempts, record.last_error = FAILING, record.attempts + 1, why[:MAX_ERROR]
        record.next_at = time.time() + backoff(record.attempts, FIRST_RETRY, LAST_RETRY)
        self.store.save_registration(record.touched())
        SUBSCRIPTION_REGISTRATIONS.labels(record.subscription, "failed").inc()
        log.warning("subscription %s: registration at its source failed: %s", record.subscription, why)


def _text_of(body: Any) -> str:
    try:
        return body if isinstance(body, str) else jsontext.dumps(body).decode()
    except jsontext.Unrenderable:
        return "(an answer that cannot be shown)"


def _due(record: Registration, print_: str, now: float) -> bool:
    """Set up again: its settings changed, it was being removed, or it failed (or a process died
    setting it up) and its backoff is over. (``requested``: an operator's ask noted in the record by
    an older daemon; today's are notes beside it.)"""
    if record.fingerprint != print_ or record.requested or record.removing:
        return True
    return record.state != REGISTERED and now >= (record.next_at or 0)


def with_secret(subscription: Subscription, secret: str | None) -> Mapping[str, Any]:
    """The settings a trigger sees: the generated secret in its setting unless the operator set it."""
    name = subscription.trigger.trigger.generated_secret
    if name is None or secret is None or subscription.settings.get(name):
        return subscription.settings
    return {**subscription.settings, name: secret}


def fingerprint(subscription: Subscription, url: str) -> str:
    """What a registration depends on; the record keeps it sealed (the settings hold secrets)."""
    text = jsontext.dumps([subscription.trigger.id, url, dict(subscription.settings)], as_stored=True)
    return hashlib.sha256(text).hexdigest()


def _why(bound: BoundTrigger, error: Exception) -> str:
    if isinstance(error, CommandError):
        answer = f": {_text_of(error.body)}" if error.body not in (None, "", {}) else ""
        return f"{error.error_code}: {error}{answer}"  # the source's answer, cut to MAX_ERROR later
    bound.logger.warning("trigger %s: subscribe/unsubscribe raised", bound.id, exc_info=True)
    return f"the trigger raised {exception_name(error)}"

"""Subscriptions: each ``[subscriptions.<name>]`` table bound to its trigger, settings and mapping.

Bound once at start-up like connectors; one whose trigger is missing or whose settings are
invalid is left out (readiness names it) and the others run. The mapping from an event to a
message payload is data, never code: JSON pointers (RFC 6901) into the event, or a Jinja
template in the sandbox rendering JSON.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonpointer
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator

from connector_proxy.calls.discovery import ConnectorRejected, configured
from connector_proxy.calls.registry import BoundTrigger, Registry
from connector_proxy.calls.validation import parameters_validator
from connector_proxy.config import Settings, SubscriptionSettings
from connector_proxy.events.model import DEAD, StoredEvent
from connector_proxy.sdk import tracing
from connector_proxy.sdk.context import Context, TaskLog, call_ids
from connector_proxy.sdk.triggers import Event

log = logging.getLogger(__name__)
_TEMPLATES = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class MappingFailed(ValueError):
    """An event lacks what its subscription's payload mapping reads; the message names the pointer."""


@dataclass(frozen=True)
class Subscription:
    """A configured subscription, ready: its trigger, resolved settings and payload mapping."""

    name: str
    trigger: BoundTrigger
    message: str
    settings: Mapping[str, Any]
    payload: Mapping[str, str]
    template: Any  # a compiled Jinja template, or None
    interval: float
    validator: Validator | None = None  # of a webhook's JSON body, from the trigger's payload schema

    def context(self, seconds: float) -> Context:
        """What the trigger's function gets: its connector's config and resources, these settings."""
        return trigger_context(self.trigger, self.settings, seconds)

    def stored(self, event: Event) -> StoredEvent:
        """The event as it is kept: mapped to the message's payload; dead at once if it cannot be."""
        record = StoredEvent(
            self.name, self.trigger.id, self.message, event.key, None, request_id=call_ids().request_id
        )
        record.traceparent = tracing.traceparent()
        try:
            record.payload = self.map(event.data)
        except MappingFailed as failure:
            record.state, record.next_at, record.last_error = DEAD, None, str(failure)
        return record

    def map(self, data: Any) -> Any:
        """The message payload for an event's data (the data itself without a mapping)."""
        if self.template is not None:
            return _render(self.template, data)
        if not self.payload:
            return data
        return {name: _resolve(data, pointer) for name, pointer in self.payload.items()}


def trigger_context(bound: BoundTrigger, settings: Mapping[str, Any], seconds: float) -> Context:
    """A trigger's context: its connector's config and resources, a subscription's settings."""
    return Context(
        **bound.live.in_use(),  # one pair, even across a secret's refresh
        log=TaskLog(bound.logger),
        deadline=time.monotonic() + seconds,
        request_id=call_ids().request_id,
        settings=settings,
    )


def _resolve(data: Any, pointer: str) -> Any:
    try:
        return jsonpointer.resolve_pointer(data, pointer)
    except jsonpointer.JsonPointerException:
        raise MappingFailed(f"the event has nothing at {pointer!r}") from None


def _render(template: Any, data: Any) -> Any:
    try:
        return json.loads(template.render(event=data))
    except TemplateError as error:
        raise MappingFailed(f"the template failed: {error.message}") from None
    except ValueError as error:
        raise MappingFailed(f"the template did not render JSON: {error}") from None


@dataclass(frozen=True)
class Bound:
    """The subscriptions that run, and why each other one does not."""

    ready: Mapping[str, Subscription]
    problems: Mapping[str, str]


def bind_subscriptions(settings: Settings, registry: Registry) -> Bound:
    ready: dict[str, Subscription] = {}
    problems: dict[str, str] = {}
    for name, table in settings.subscriptions.items():
        if not table.enabled:
            continue
        try:
            ready[name] = _bind(table, registry, settings)
        except ConnectorRejected as rejected:
            problems[name] = rejected.detail
            log.error("subscription %s left out: %s", name, rejected.detail)
    for name, subscription in ready.items():
        log.info("subscription %s: %s -> message %s", name, subscription.trigger.id, subscription.message)
    return Bound(ready, problems)


def _bind(table: SubscriptionSettings, registry: Registry, settings: Settings) -> Subscription:
    bound = registry.triggers.get(table.trigger)
    if bound is None:
        raise ConnectorRejected("unavailable", f"no ready connector offers trigger {table.trigger!r}")
    try:
        resolved = configured(bound.trigger.settings, table.settings, settings.environ)
    except ConnectorRejected as rejected:
        raise ConnectorRejected(rejected.state, f"settings: {rejected.detail}") from None
    template = None
    if table.template is not None:
        try:
            template = _TEMPLATES.from_string(table.template)
        except TemplateError as error:
            raise ConnectorRejected("config_error", f"template: {error}") from None
    validator = None
    if bound.trigger.payload is not None:
        try:
            validator = parameters_validator(bound.trigger.payload)
        except SchemaError as error:
            raise ConnectorRejected("invalid", f"{bound.id}: payload schema: {error.message}") from None
    return Subscription(
        table.name, bound, table.message, resolved, table.payload, template, table.interval, validator
    )

"""``[events]`` and ``[subscriptions.<name>]``: inbound events, the triggers they come from, and how
they reach the host as BPMN messages."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connector_proxy.config.values import SEGMENT_NAME, ConfigError, named, plain_url, typed
from connector_proxy.secrets import SecretReferenceError, resolve_reference


@dataclass(frozen=True)
class EventSettings:
    """Inbound events: where they are delivered as BPMN messages, and how hard we try."""

    # the host's API root; a message goes to <host_url>/messages/<name>, e.g. "http://127.0.0.1:7000/v1.0"
    host_url: str = ""
    # sent as SpiffWorkflow-Api-Key (a service account's key), plain or env:/file:
    host_api_key: str = field(default="", repr=False)
    # the host's execution_mode, sent only when set: "asynchronous" needs the host's Celery
    execution_mode: str = ""
    time_to_live_in_seconds: int = 0  # > 0: the host buffers a message no receiver waits for yet
    delivery_timeout: float = 10.0
    give_up_after: float = 24 * 3600.0  # an event not delivered by then is dead-lettered
    keep_delivered: float = 7 * 24 * 3600.0  # delivered and dead events stay visible this long
    delivery_threads: int = 2  # per worker process
    poll_timeout: float = 30.0  # a poll's deadline
    lease_seconds: float = 60.0  # a poller's claim on its subscription, renewed each turn; > poll_timeout
    # a webhook's body: refused on its Content-Length before a byte is read or hashed
    max_body_bytes: int = 1024 * 1024
    # webhooks being read and verified at once per worker process; more are answered 503 at once, so
    # forged requests cannot crowd out authenticated calls
    max_unverified: int = 4
    # webhook body bytes a worker process reads and verifies per second (bursts up to max_body_bytes)
    unverified_bytes_per_second: int = 4 * 1024 * 1024
    # the daemon's address as event sources see it, e.g. "https://proxy.example.com": a trigger that
    # registers its webhook at the source gives it <public_url>/v1/inbound/<connector>/<trigger>/<name>
    public_url: str = ""


def resolve_events(events: EventSettings, environ: Mapping[str, str]) -> EventSettings:
    try:
        key = resolve_reference(events.host_api_key, environ)
    except SecretReferenceError as error:
        raise ConfigError(f"events.host_api_key: {error}") from None
    if events.host_url and not plain_url(events.host_url):
        # never quoted: a query (what is refused) or userinfo may hold a token
        raise ConfigError("events.host_url must be an http(s) URL with a host and without a query")
    if events.public_url and not plain_url(events.public_url):
        # never quoted: a query (what is refused) or userinfo may hold a token
        raise ConfigError("events.public_url must be an http(s) URL with a host and without a query")
    if events.execution_mode not in ("", "asynchronous", "synchronous"):
        raise ConfigError("events.execution_mode must be asynchronous, synchronous or empty (not sent)")
    if events.time_to_live_in_seconds < 0:
        raise ConfigError("events.time_to_live_in_seconds must be 0 (not sent) or more")
    if events.max_body_bytes < 1024:
        raise ConfigError("events.max_body_bytes must be at least 1024")
    if events.max_unverified < 1:
        raise ConfigError("events.max_unverified must be at least 1")
    if events.unverified_bytes_per_second < events.max_body_bytes:
        raise ConfigError("events.unverified_bytes_per_second must be at least events.max_body_bytes")
    for name in ("delivery_timeout", "give_up_after", "keep_delivered", "poll_timeout", "lease_seconds"):
        if getattr(events, name) <= 0:
            raise ConfigError(f"events.{name} must be positive")
    if events.delivery_threads < 1:
        raise ConfigError("events.delivery_threads must be at least 1")
    if events.lease_seconds <= events.poll_timeout:
        raise ConfigError("events.lease_seconds must be longer than events.poll_timeout")
    return dataclasses.replace(events, host_api_key=key)


@dataclass(frozen=True)
class SubscriptionSettings:
    """One ``[subscriptions.<name>]`` table: a trigger, its settings, and the message it sends."""

    name: str
    trigger: str  # "<connector>/<trigger>"
    message: str  # the BPMN message's name
    settings: Mapping[str, Any] = field(default_factory=dict)
    payload: Mapping[str, str] = field(default_factory=dict)  # payload key -> JSON pointer into the event
    template: str | None = None  # or a Jinja template rendering the payload's JSON
    interval: float = 60.0  # polling triggers: seconds between polls
    enabled: bool = True


def read_subscriptions(table: Any) -> dict[str, SubscriptionSettings]:
    """The ``[subscriptions]`` tables, each checked."""
    if not isinstance(table, dict):
        raise ConfigError("[subscriptions] must be a table of subscription tables")
    return {name: _subscription(name, entry) for name, entry in table.items()}


def _subscription(name: str, entry: Any) -> SubscriptionSettings:
    where = f"subscriptions.{name}"
    if not SEGMENT_NAME.fullmatch(name):
        raise ConfigError(f"[{where}]: a name is 1 to 64 letters, digits, '_', '.' or '-', not '.' or '..'")
    if not isinstance(entry, dict):
        raise ConfigError(f"[{where}] must be a table")
    known = {f.name for f in dataclasses.fields(SubscriptionSettings)} - {"name"}
    unknown = set(entry) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [{where}]: {named(unknown, known)}")
    for key in ("trigger", "message"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ConfigError(f"{where}.{key} must be a non-empty string")
    if entry["trigger"].count("/") != 1:
        raise ConfigError(f"{where}.trigger must read '<connector>/<trigger>'")
    payload = entry.get("payload", {})
    if not isinstance(payload, dict) or not all(
        isinstance(v, str) and (v == "" or v.startswith("/")) for v in payload.values()
    ):
        raise ConfigError(f"{where}.payload must map names to JSON pointers ('' or starting with '/')")
    if "template" in entry and "payload" in entry:
        raise ConfigError(f"{where}: give payload or template, not both")
    settings = entry.get("settings", {})
    if not isinstance(settings, dict):
        raise ConfigError(f"[{where}.settings] must be a table")
    template = entry.get("template")
    if template is not None and not isinstance(template, str):
        raise ConfigError(f"{where}.template must be a string")
    interval = typed(f"{where}.interval", entry.get("interval", 60.0), float)
    if interval <= 0:
        raise ConfigError(f"{where}.interval must be positive")
    enabled = typed(f"{where}.enabled", entry.get("enabled", True), bool)
    return SubscriptionSettings(
        name, entry["trigger"], entry["message"], settings, payload, template, interval, enabled
    )

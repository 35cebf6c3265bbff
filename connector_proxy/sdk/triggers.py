"""Triggers: how a connector turns the outside world's events into BPMN messages.

A connector declares two kinds, next to its commands:

    @connector.webhook("order_created", verifier=HmacSignature(), payload=ORDER_SCHEMA)
    def order_created(ctx: Context, request: InboundRequest) -> Event:
        return Event(key=request.headers["X-Shop-Delivery"], data=request.json)

    @connector.poller("invoice_paid", settings=SETTINGS)
    def invoices(ctx: Context, cursor: Any) -> tuple[list[Event], Any]:
        paid = ctx.resources.paid_since(cursor or 0)
        return [Event(str(i.id), i.as_json()) for i in paid], max((i.paid_at for i in paid), default=cursor)

The daemon serves a webhook at ``POST /v1/inbound/<connector>/<trigger>/<subscription>``
and runs a poller on a schedule; both only for subscriptions the operator
configured in ``plugins.toml``. Each event's ``key`` identifies it at its
source: an event seen twice (a replayed request, a poll repeated after a
crash) is stored and delivered once.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from connector_proxy.sdk.errors import CommandError, ErrorCode
from connector_proxy.sdk.parameters import JsonSchema

INVALID_SIGNATURE = ErrorCode(
    "InvalidSignature",
    "An inbound request's signature or token is missing or wrong for its subscription's secret.",
    status=401,
)
REQUEST_EXPIRED = ErrorCode(
    "RequestExpired",
    "An inbound request's signed timestamp is missing, unreadable, or further from now than the"
    " subscription's tolerance: a replay, or a sender whose clock is off.",
    status=401,
)


@dataclass(frozen=True)
class Event:
    """One thing that happened at the source: ``key`` names it there (a delivery id, an object's
    key and version, a message id), ``data`` is what the subscription maps to the message's payload."""

    key: str
    data: Any


@dataclass(frozen=True)
class InboundRequest:
    """What a webhook's sender posted: the raw body (what signatures cover), its JSON, its headers."""

    body: bytes
    headers: Mapping[str, str]  # case-insensitive
    json: Any = None  # the parsed body when it was JSON; it has passed the trigger's payload schema

    def body_digest(self) -> str:
        """A key for events whose sender gives no id: the same body is the same event."""
        return hashlib.sha256(self.body).hexdigest()


class Verifier(Protocol):
    """Checks an inbound request came from who holds the subscription's secret; raises CommandError
    with :data:`INVALID_SIGNATURE` or :data:`REQUEST_EXPIRED` otherwise."""

    def __call__(self, settings: Mapping[str, Any], request: InboundRequest, now: float) -> None: ...


@dataclass(frozen=True)
class HmacSignature:
    """An HMAC-SHA256 of the body in a header, GitHub's ``X-Hub-Signature-256: sha256=<hex>`` by default.

    With ``timestamp_header`` the signed text is ``<timestamp>.<body>`` (Stripe's and Slack's way)
    and a timestamp further than ``tolerance`` seconds from now is refused as a replay.
    ``secret`` names the subscription setting holding the key.
    """

    header: str = "X-Hub-Signature-256"
    prefix: str = "sha256="
    secret: str = "secret"  # noqa: S105 - the name of the setting holding it, not a secret
    timestamp_header: str | None = None
    tolerance: float = 300.0

    def __call__(self, settings: Mapping[str, Any], request: InboundRequest, now: float) -> None:
        stamp = request.headers.get(self.timestamp_header, "").strip() if self.timestamp_header else None
        signed = request.body if stamp is None else f"{stamp}.".encode() + request.body
        offered = request.headers.get(self.header, "").strip()
        expected = self.prefix + hmac.new(_key(settings, self.secret), signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(offered.lower().encode(), expected.encode()):
            raise CommandError(INVALID_SIGNATURE, f"{self.header} is missing or does not match the body")
        if stamp is not None:  # signed, so the sender wrote it: is it recent?
            drift = abs(now - _timestamp(stamp, str(self.timestamp_header)))
            if drift > self.tolerance:
                raise CommandError(
                    REQUEST_EXPIRED,
                    f"{self.timestamp_header} is {drift:.0f} s from now,"
                    f" over the {self.tolerance:.0f} s allowed",
                )


@dataclass(frozen=True)
class SharedToken:
    """A secret the sender repeats in a header on every request (``prefix`` e.g. ``"Bearer "``)."""

    header: str = "X-Webhook-Token"
    prefix: str = ""
    secret: str = "secret"  # noqa: S105 - the name of the setting holding it, not a secret

    def __call__(self, settings: Mapping[str, Any], request: InboundRequest, now: float) -> None:
        offered = request.headers.get(self.header, "").encode()
        expected = self.prefix.encode() + _key(settings, self.secret)
        if not hmac.compare_digest(offered, expected):
            raise CommandError(INVALID_SIGNATURE, f"{self.header} is missing or holds the wrong token")


def _key(settings: Mapping[str, Any], name: str) -> bytes:
    secret = settings.get(name)
    if not isinstance(secret, str) or not secret:  # the settings' schema should have required it
        raise CommandError(INVALID_SIGNATURE, f"the subscription has no {name!r} to verify requests with")
    return secret.encode()


def _timestamp(raw: str, header: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds):  # "nan" would never be stale, "inf" never fresh
        raise CommandError(REQUEST_EXPIRED, f"{header} is missing or not a number of seconds")
    return seconds


T = TypeVar("T")


def after_cursor(found: Iterable[tuple[Any, str, T]], cursor: Any, limit: int) -> tuple[list[T], Any]:
    """The items a poll reports when it lists its source whole each time, and the cursor after them.

    ``found`` holds ``(instant, name, item)``: when the item appeared (a change or modification
    time; numbers, or text that sorts in time order) and a name unique at that instant. The cursor
    is the last instant reported and the names reported at it, so items sharing an instant (whole
    seconds, say) are neither missed nor repeated. At most ``limit`` items, oldest first; with
    nothing new, the cursor stays as it was.
    """
    since, seen = (cursor["at"], set(cursor["names"])) if cursor else (None, set())

    def is_new(at: Any, name: str) -> bool:
        return since is None or at > since or (at == since and name not in seen)

    newer = sorted(
        (entry for entry in found if is_new(entry[0], entry[1])),
        key=lambda entry: (entry[0], entry[1]),  # never the items: they need not be comparable
    )[:limit]
    if not newer:
        return [], cursor
    last = newer[-1][0]
    names = [name for at, name, _ in newer if at == last] + (sorted(seen) if last == since else [])
    return [item for _, _, item in newer], {"at": last, "names": names}


WebhookFunction = Callable[..., "Event | Sequence[Event]"]
PollFunction = Callable[..., "tuple[Sequence[Event], Any]"]
Acknowledge = Callable[..., None]
# subscribe(ctx, url, secret) -> registration (JSON: what unsubscribe needs, e.g. the hook's id at the source)
Subscribe = Callable[..., Any]
Unsubscribe = Callable[..., None]  # unsubscribe(ctx, registration)
WEBHOOK, POLLER = "webhook", "poller"


@dataclass(frozen=True)
class Trigger:
    """A declared source of events: a webhook the daemon serves or a poller it runs.

    ``settings`` is the JSON Schema of a subscription's ``settings`` table (``"secret": true``
    fields take ``env:``/``file:`` references). A webhook has a ``verifier`` (always: an
    unverified endpoint would let anyone start processes) and may have a ``payload`` schema its
    JSON body must pass. A poller may have ``acknowledge(ctx, events)``, run once its events
    are stored (delete SQS messages then, not before).

    A webhook may set itself up at its source: ``subscribe(ctx, url, secret)`` creates the hook
    (``url`` is where the source posts, built from ``events.public_url``) and returns the
    registration, JSON kept sealed by the daemon; ``unsubscribe(ctx, registration)`` removes it.
    With ``generated_secret`` (a setting's name) the daemon makes the signing secret, passes it to
    ``subscribe`` and puts it in that setting whenever the operator left it out. ``registers(settings)``
    says whether a subscription with these settings is set up at all (one whose hook the operator
    set up by hand is not).
    """

    name: str
    kind: str
    function: Callable[..., Any]
    description: str = ""
    settings: JsonSchema = field(default_factory=lambda: {"type": "object"})
    payload: JsonSchema | None = None
    verifier: Verifier | None = None
    acknowledge: Acknowledge | None = None
    subscribe: Subscribe | None = None
    unsubscribe: Unsubscribe | None = None
    generated_secret: str | None = None
    registers: Callable[[Mapping[str, Any]], bool] | None = None  # these settings are set up? (default: yes)

    def registered_with(self, settings: Mapping[str, Any]) -> bool:
        """Whether a subscription with these settings is set up at its source by the daemon."""
        if self.subscribe is None:
            return False
        return self.registers is None or bool(self.registers(settings))

"""The generic webhook: any sender that signs its requests (HMAC-SHA256) or repeats a shared token.

    [subscriptions.shop_orders]
    trigger = "http/webhook"
    message = "order_received"
    settings = { secret = "env:SHOP_WEBHOOK_SECRET", id_header = "X-Shop-Delivery" }
    payload = { order_id = "/body/id", customer = "/body/customer/email" }

The event is ``{"id": …, "delivery_id": …, "body": …}``: the body as JSON (as text if it is not
JSON). Its key (``id``) is the body's SHA-256, what the signature covers: a replayed request is
stored and delivered once, even with a fresh delivery id, which no signature covers
(``id_header``'s value is passed on as ``delivery_id``, for the record only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector_proxy.sdk import CommandGroup, Context, Event, HmacSignature, InboundRequest, SharedToken

triggers = CommandGroup()

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["secret"],
    "properties": {
        "verify": {
            "enum": ["hmac-sha256", "token"],
            "default": "hmac-sha256",
            "description": "hmac-sha256: a signature of the body; token: a secret repeated in a header",
        },
        "secret": {"type": "string", "minLength": 16, "secret": True, "description": "env:/file: reference"},
        "signature_header": {"type": "string", "default": "X-Hub-Signature-256"},
        "signature_prefix": {"type": "string", "default": "sha256="},
        "timestamp_header": {
            "type": "string",
            "description": "signed text is '<timestamp>.<body>'; older than tolerance is refused",
        },
        "tolerance": {"type": "number", "exclusiveMinimum": 0, "default": 300},
        "token_header": {"type": "string", "default": "X-Webhook-Token"},
        "token_prefix": {"type": "string", "default": "", "description": "e.g. 'Bearer '"},
        "id_header": {
            "type": "string",
            "default": "X-Webhook-Id",
            "description": "the sender's delivery id (GitHub: X-GitHub-Delivery), passed on as delivery_id;"
            " unsigned, so the event's identity is the body's SHA-256",
        },
    },
}


def verify(settings: Mapping[str, Any], request: InboundRequest, now: float) -> None:
    """The scheme the subscription chose, with the headers it names."""
    if settings.get("verify") == "token":
        SharedToken(header=settings["token_header"], prefix=settings["token_prefix"])(settings, request, now)
        return
    HmacSignature(
        header=settings["signature_header"],
        prefix=settings["signature_prefix"],
        timestamp_header=settings.get("timestamp_header"),
        tolerance=float(settings["tolerance"]),
    )(settings, request, now)


@triggers.webhook("webhook", verifier=verify, settings=SETTINGS_SCHEMA)
def webhook(ctx: Context, request: InboundRequest) -> Event:
    """A signed (or token-bearing) POST from any sender; the event holds its body."""
    key = request.body_digest()  # signed: a replay under a fresh, unsigned delivery id is the same event
    delivery_id = request.headers.get(ctx.settings["id_header"])
    body = request.json if request.json is not None else request.body.decode("utf-8", "replace")
    return Event(key=key, data={"id": key, "delivery_id": delivery_id, "body": body})

"""The SNS webhook: a topic's notifications posted to the daemon, each one's signature checked.

    [subscriptions.orders]
    trigger = "aws/notification_received"
    message = "order_placed"
    settings = { topic = "arn:aws:sns:eu-west-1:123456789012:orders" }

The subscription sets itself up: ``subscribe`` subscribes the daemon's URL for it (built from
``events.public_url``) to the topic, and ``unsubscribe`` removes it. SNS then posts a signed
``SubscriptionConfirmation``; once its signature checks (``signed.py``), its ``SubscribeURL`` is
followed, and only then does SNS send notifications. A confirmation, or an
``UnsubscribeConfirmation``, is no event: the daemon answers it and stores nothing.

Each notification's event key is its MessageId: SNS retries a delivery with the same id, and a
replayed one is stored once. Its ``MessageAttributes`` are left out of the event: SNS does not sign
them, so whoever holds one genuine notification (any other subscriber of the topic) could post it
first with attributes of its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from connector_proxy.sdk import INVALID_SIGNATURE, CommandError, CommandGroup, Context, Event, InboundRequest
from connector_proxy_aws import signed
from connector_proxy_aws.calling import allowed, call

notifications = CommandGroup()

SETTINGS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["topic"],
    "properties": {
        "topic": {
            "type": "string",
            "pattern": "^arn:[a-z-]+:sns:[a-z0-9-]+:[0-9]+:[A-Za-z0-9_.-]+$",
            "x-expected": "an SNS topic's ARN",
            "description": "the topic's ARN (its name on allow.topics if that is set)",
        },
    },
}
# what SNS posts; the signature is checked in the trigger (it needs the connector's pool)
MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["Type", "MessageId", "TopicArn", "Timestamp", "SignatureVersion", "Signature"],
    "properties": {
        "Type": {"enum": [signed.CONFIRMATION, signed.NOTIFICATION, signed.UNSUBSCRIBED]},
        "MessageId": {"type": "string", "minLength": 1, "maxLength": 200},
        "TopicArn": {"type": "string"},
        "Message": {"type": "string"},
        "Subject": {"type": ["string", "null"]},
        "Timestamp": {"type": "string"},
        "SignatureVersion": {"type": "string"},
        "Signature": {"type": "string"},
        "SigningCertURL": {"type": "string"},
        "SubscribeURL": {"type": "string"},
        "Token": {"type": "string"},
        "MessageAttributes": {"type": "object"},  # unsigned: accepted, never passed on
    },
}


def _topic_name(ctx: Context) -> str:
    topic: str = ctx.settings["topic"]
    allowed(ctx, "topics", topic.rsplit(":", 1)[-1])
    return topic


def subscribe(ctx: Context, url: str, secret: str | None) -> dict[str, Any]:
    """Subscribe the daemon's URL to the topic; SNS confirms it by a signed message to that URL."""
    del secret  # SNS signs with its own key: there is no shared secret
    topic = _topic_name(ctx)
    answer = call(
        ctx,
        "sns",
        "subscribe",
        TopicArn=topic,
        Protocol=urlsplit(url).scheme,  # http or https, as events.public_url says
        Endpoint=url,
        ReturnSubscriptionArn=True,  # its ARN even while the confirmation is pending: unsubscribe needs it
    )
    return {"subscription_arn": answer["SubscriptionArn"], "topic": topic}


def unsubscribe(ctx: Context, registration: Mapping[str, Any]) -> None:
    """Remove the topic's subscription; one already gone is gone."""
    arn = registration.get("subscription_arn")
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return  # nothing SNS could name
    try:
        call(ctx, "sns", "unsubscribe", SubscriptionArn=arn)
    except CommandError as error:
        if error.error_code not in ("NotFound", "NotFoundException"):
            raise


def _verify_shape(settings: Mapping[str, Any], request: InboundRequest, now: float) -> None:
    """The cheap check before the trigger's: the JSON names the subscription's topic. The signature
    is checked by the trigger itself, which has the connector's pool to fetch the certificate."""
    del now
    try:
        message = json.loads(request.body)
    except ValueError:
        message = None
    if not isinstance(message, dict) or message.get("TopicArn") != settings.get("topic"):
        raise CommandError(INVALID_SIGNATURE, "not an SNS message from the subscription's topic")


@notifications.webhook(
    "notification_received",
    verifier=_verify_shape,
    payload=MESSAGE,
    settings=SETTINGS,
    subscribe=subscribe,
    unsubscribe=unsubscribe,
)
def notification_received(ctx: Context, request: InboundRequest) -> list[Event]:
    """Notifications published to an SNS topic, each signature checked; the subscription confirmed."""
    message: dict[str, Any] = request.json
    topic = ctx.settings["topic"]
    signed.verify(ctx, message, topic)
    if message["Type"] == signed.CONFIRMATION:
        signed.confirm(ctx, message, topic)
        ctx.log.info("confirmed the topic's subscription (SubscribeURL followed)")
        return []
    if message["Type"] == signed.UNSUBSCRIBED:
        return []  # SNS saying the subscription is gone: nothing to deliver
    return [Event(message["MessageId"], _notification(message))]


def _notification(message: Mapping[str, Any]) -> dict[str, Any]:
    text = message.get("Message", "")
    try:
        body: Any = json.loads(text, parse_constant=_not_json)
    except ValueError:  # text, or JSON with NaN or Infinity (which a message's payload cannot hold)
        body = text
    return {
        "message_id": message["MessageId"],
        "topic": message["TopicArn"],
        "subject": message.get("Subject"),
        "message": body,
        "timestamp": message["Timestamp"],
        # no MessageAttributes: outside SNS's signature, anyone could have rewritten them
    }


def _not_json(name: str) -> Any:
    raise ValueError(name)

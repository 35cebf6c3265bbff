"""Polling triggers: S3 objects created in a bucket, and SQS messages received from a queue.

``object_created`` lists the bucket (under a prefix) each poll and reports objects modified
after the cursor (the SDK's ``after_cursor``: the last modification time taken, and the keys
taken at that instant; S3's times have whole seconds, so several objects share one). An
object's event key is its key and ETag, so an overwritten object is a new event.

``message_received`` receives up to ``max_events`` messages (long-polling ``wait_seconds``) and
deletes them only once their events are stored; a message received again after a crash has
the same MessageId, and its event is kept once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector_proxy.sdk import CommandGroup, Context, Event, after_cursor
from connector_proxy_aws.calling import allowed, call

triggers = CommandGroup()

OBJECT_SETTINGS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["bucket"],
    "properties": {
        "bucket": {"type": "string", "minLength": 3},
        "prefix": {"type": "string", "default": ""},
        "max_events": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    },
}
MESSAGE_SETTINGS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["queue"],
    "properties": {
        "queue": {"type": "string", "minLength": 1, "description": "the queue's name or URL"},
        "max_events": {"type": "integer", "minimum": 1, "maximum": 10, "default": 10},
        "wait_seconds": {"type": "integer", "minimum": 0, "maximum": 20, "default": 1},
        "visibility_timeout": {"type": "integer", "minimum": 1, "maximum": 43200, "default": 60},
    },
}


@triggers.poller("object_created", settings=OBJECT_SETTINGS)
def object_created(ctx: Context, cursor: Any) -> tuple[list[Event], Any]:
    """Objects created (or overwritten) in a bucket under a prefix, oldest first."""
    bucket = ctx.settings["bucket"]
    allowed(ctx, "buckets", bucket)
    listed = [
        (modified, entry["key"], entry) for modified, entry in _objects(ctx, bucket, ctx.settings["prefix"])
    ]
    found, cursor = after_cursor(listed, cursor, ctx.settings["max_events"])
    return [Event(f"{entry['key']}@{entry['etag']}", entry) for entry in found], cursor


def _objects(ctx: Context, bucket: str, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """Every object under the prefix with its modification time as sortable text."""
    listed: list[tuple[str, dict[str, Any]]] = []
    arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = call(ctx, "s3", "list_objects_v2", **arguments)
        for item in page.get("Contents", []):
            modified = _instant(item["LastModified"])
            entry = {
                "bucket": bucket,
                "key": item["Key"],
                "size": item["Size"],
                "etag": item.get("ETag", "").strip('"'),
                "last_modified": modified,
            }
            listed.append((modified, entry))
        if not page.get("IsTruncated"):
            return listed
        arguments["ContinuationToken"] = page["NextContinuationToken"]


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")  # fixed width: sorts as text in time order


@dataclass(frozen=True)
class Received(Event):
    """A message's event, with what deleting it takes (never part of the message's payload)."""

    receipt: str = ""
    queue_url: str = ""


def _delete(ctx: Context, events: list[Received]) -> None:
    """Run once the events are stored: the queue forgets the messages only then."""
    by_queue: dict[str, list[Received]] = {}
    for event in events:
        by_queue.setdefault(event.queue_url, []).append(event)
    for url, batch in by_queue.items():
        entries = [{"Id": str(n), "ReceiptHandle": event.receipt} for n, event in enumerate(batch)]
        call(ctx, "sqs", "delete_message_batch", QueueUrl=url, Entries=entries)


@triggers.poller("message_received", settings=MESSAGE_SETTINGS, acknowledge=_delete)
def message_received(ctx: Context, cursor: Any) -> tuple[list[Event], Any]:
    """Messages received from an SQS queue, deleted once stored."""
    queue = ctx.settings["queue"]
    allowed(ctx, "queues", queue.rstrip("/").rsplit("/", 1)[-1])
    url = queue if "://" in queue else call(ctx, "sqs", "get_queue_url", QueueName=queue)["QueueUrl"]
    wait = min(
        ctx.settings["wait_seconds"], max(0, int(ctx.seconds_left()) - 1)
    )  # within the poll's deadline
    answer = call(
        ctx,
        "sqs",
        "receive_message",
        QueueUrl=url,
        MaxNumberOfMessages=ctx.settings["max_events"],
        WaitTimeSeconds=wait,
        VisibilityTimeout=ctx.settings["visibility_timeout"],
        MessageAttributeNames=["All"],
    )
    events: list[Event] = [
        Received(message["MessageId"], _message(message), message["ReceiptHandle"], url)
        for message in answer.get("Messages", [])
    ]
    return events, cursor


def _message(message: dict[str, Any]) -> dict[str, Any]:
    body = message.get("Body", "")
    try:
        parsed: Any = json.loads(body, parse_constant=_not_json)
    except ValueError:  # text, or JSON with NaN or Infinity (which a message's payload cannot hold)
        parsed = body
    attributes = {
        name: value.get("StringValue", value.get("BinaryValue"))
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {"message_id": message["MessageId"], "body": parsed, "attributes": attributes}


def _not_json(name: str) -> Any:
    raise ValueError(name)

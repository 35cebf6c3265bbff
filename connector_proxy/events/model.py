"""A stored event: what a trigger reported, mapped to a message, and where its delivery stands.

Its id is a UUID derived from the subscription and the event's key at its source, so the same
event is one record however often it arrives, and the host, which honours
``message_instance_uuid``, starts one process for it however often it is sent.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from connector_proxy.host import jsontext
from connector_proxy.jobs.model import iso_time
from connector_proxy.sdk.paths import url_path
from connector_proxy.secrets.record_encryption import Sealer

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
STATES = (PENDING, DELIVERED, DEAD)
FINISHED = (DELIVERED, DEAD)
# fixed forever: message_instance_uuid = uuid5(NAMESPACE, "<subscription>/<key>") must not change
NAMESPACE = uuid.UUID("6f1c3a52-5d0e-4a53-9d59-2a7f0c4b8e31")


def event_id(subscription: str, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{subscription}/{key}"))


@dataclass
class StoredEvent:
    """One event of one subscription and its delivery; the payload is never shown."""

    subscription: str
    trigger: str
    message: str
    key: str
    payload: Any
    id: str = ""
    state: str = PENDING
    received_at: float = field(default_factory=time.time)
    attempts: int = 0
    next_at: float | None = None
    last_error: str | None = None
    host_status: int | None = None
    host_answer: Any = None
    delivered_at: float | None = None
    request_id: str | None = None
    retried_at: float | None = None  # an operator sent it again once dead: give_up_after counts from here
    retries: int = 0  # how often an operator sent it again: each is a new message to the host
    traceparent: str | None = None  # of its receipt (or poll): its delivery joins that trace

    def __post_init__(self) -> None:
        if not self.id:
            self.id = event_id(self.subscription, self.key)
        if self.state == PENDING and self.next_at is None:
            self.next_at = self.received_at

    @property
    def message_instance_uuid(self) -> str:
        """The host keeps its answer per uuid and replays it: a resend of an unanswered attempt keeps
        the event's id (one message however often it goes), an operator's retry of a refused one
        gets a uuid of its own, derived from the id and the retry (sent once too)."""
        if not self.retries:
            return self.id
        return str(uuid.uuid5(NAMESPACE, f"{self.id}/retry/{self.retries}"))

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def to_json(self, sealer: Sealer) -> str:
        data = asdict(self)
        data["payload"] = sealer.seal(data["payload"])
        return jsontext.dumps(data).decode()

    @classmethod
    def from_json(cls, text: str | bytes, sealer: Sealer) -> StoredEvent:
        data = json.loads(text)
        data["payload"] = sealer.open(data["payload"])
        return cls(**data)

    def describe(self) -> dict[str, Any]:
        """What GET /v1/events shows: where the event came from and where its delivery stands."""
        return {
            "id": self.id,
            "message_instance_uuid": self.message_instance_uuid,
            "subscription": self.subscription,
            "trigger": self.trigger,
            "message": self.message,
            "key": self.key,
            "state": self.state,
            "received_at": iso_time(self.received_at),
            "attempts": self.attempts,
            "next_attempt_at": iso_time(self.next_at) if self.state == PENDING else None,
            "last_error": self.last_error,
            "host_status": self.host_status,
            "host_answer": self.host_answer,
            "delivered_at": iso_time(self.delivered_at),
            "retried_at": iso_time(self.retried_at),
            "retries": self.retries,
            "status_url": url_path("v1", "events", self.id),
        }


def next_poll_record(
    previous: dict[str, Any] | None, result: str, found: int, error: str | None, now: float
) -> dict[str, Any]:
    """A subscription's poll record after one more poll (``result`` ok, failed or lease_lost): what the
    operations view shows of a poller, kept by the store beside its cursor."""
    record = dict(previous or {"last_ok_at": None, "failures_in_a_row": 0})
    record.update(last_poll_at=now, last_result=result, last_found=found)
    if result == "ok":
        record.update(last_ok_at=now, failures_in_a_row=0, last_error=None)
    elif result == "failed":
        record.update(failures_in_a_row=int(record.get("failures_in_a_row") or 0) + 1, last_error=error)
    return record

"""A job: one call run in the background, its result, and the delivery of that result.

The record is the same for every backend; only where it is kept differs.
Its payload (parameters with the host's secrets substituted) is stored to
run it, but never shown.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from connector_proxy.calls import envelope
from connector_proxy.host import jsontext, task_data
from connector_proxy.sdk.errors import CommandError
from connector_proxy.sdk.paths import url_path
from connector_proxy.secrets.record_encryption import Sealer

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
WAITING = "waiting"  # the command handed its result off and PUTs it back through the relay
STATES = (QUEUED, RUNNING, WAITING, SUCCEEDED, FAILED)
FINISHED = (SUCCEEDED, FAILED)
UNFINISHED = (QUEUED, RUNNING, WAITING)
# delivery of the result to spiff__callback_url
NO_CALLBACK, PENDING, DELIVERED, UNDELIVERABLE = "none", "pending", "delivered", "undeliverable"


@dataclass
class Delivery:
    """Where the callback of a finished job stands: its state, attempts, next try and last error."""

    state: str = NO_CALLBACK
    attempts: int = 0
    next_at: float | None = None
    last_error: str | None = None
    delivered_at: float | None = None
    outcome: str | None = None  # the host's word: completed, retry_scheduled; or refused, credentials_refused
    host_status: int | None = None
    host_answer: Any = None  # what the host said last, for the operator
    # an operator's resend of a delivered callback: the delivery it replaces, back if the host refuses
    resent_after: dict[str, Any] | None = None


@dataclass
class Job:
    """One call run in the background, and its result: the record every backend keeps.

    ``attempts`` counts starts (more than one: resumed after a stop); ``status`` and
    ``envelope`` are what a synchronous call would have answered.
    """

    command: str
    payload: dict[str, Any]
    task_id: str | None
    callback_url: str | None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: str = QUEUED
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0  # times it was started: more than one means it was resumed after a stop
    status: int | None = None  # the HTTP status a synchronous call would have answered
    envelope: dict[str, Any] | None = None
    delivery: Delivery = field(default_factory=Delivery)
    request_id: str | None = None  # of the request that created it: its log lines and callback carry it
    # a command that PUTs its own result back: the accepting daemon's relay, and the key's SHA-256
    relay_base: str | None = None
    relay_key_digest: str | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)  # what operators did to it, and when
    traceparent: str | None = None  # of the request that made it: its run and callback join that trace
    # while this process runs it: its lease's holder (host:pid:nonce); never stored (the lease is)
    runner: str | None = None

    def acted(self, action: str, by: str) -> None:
        """Record an operator's action (``cancel``, ``redeliver``) and where it came from (api, page)."""
        self.actions.append({"action": action, "by": by, "at": iso_time(time.time())})

    def resend_refused(self, status: int | None, answer: Any) -> None:
        """The host refused a resent callback it had taken before: the earlier delivery stands."""
        self.delivery = Delivery(**{**(self.delivery.resent_after or {}), "resent_after": None})
        refusal = {"action": "redeliver_refused", "by": "host", "at": iso_time(time.time())}
        self.actions.append({**refusal, "host_status": status, "host_answer": answer})

    @property
    def finished(self) -> bool:
        return self.state in (SUCCEEDED, FAILED)

    def start(self) -> None:
        self.state = RUNNING
        self.started_at = time.time()
        self.attempts += 1

    def finish(self, status: int, envelope: dict[str, Any], hand_off: bool = False) -> None:
        """Record the outcome; a callback becomes due unless the command handed the result off."""
        self.status = status
        self.envelope = envelope
        self.state = SUCCEEDED if envelope.get("error") is None else FAILED
        self.finished_at = time.time()
        if self.callback_url and not hand_off:
            self.delivery = Delivery(state=PENDING, next_at=self.finished_at)

    def fail(self, error: CommandError) -> None:
        """Finish with ``error``'s envelope, as a call failing so would have answered."""
        self.finish(error.http_status, envelope.from_error(error))

    def to_json(self, sealer: Sealer) -> str:
        """The stored record; its payload and envelope sealed when encryption at rest is on."""
        data = asdict(self)
        del data["runner"]  # the lease says who runs it; a record stays readable by an older daemon
        data["payload"], data["envelope"] = sealer.seal(data["payload"]), sealer.seal(data["envelope"])
        return jsontext.dumps(data, as_stored=True).decode()  # strict: an upstream's NaN is stored as "NaN"

    @classmethod
    def from_json(cls, text: str | bytes, sealer: Sealer) -> Job:
        data = task_data.read_record(text if isinstance(text, bytes) else text.encode(), "payload")
        data["payload"], data["envelope"] = sealer.open(data["payload"]), sealer.open(data["envelope"])
        data["delivery"] = Delivery(**data["delivery"])
        return cls(**data)

    def describe(self, include_envelope: bool = True) -> dict[str, Any]:
        """What GET /v1/jobs shows: never the payload."""
        shown: dict[str, Any] = {
            "id": self.id,
            "command": self.command,
            "state": self.state,
            "task_id": self.task_id,
            "created_at": iso_time(self.created_at),
            "started_at": iso_time(self.started_at),
            "finished_at": iso_time(self.finished_at),
            "attempts": self.attempts,
            "status_url": url_path("v1", "jobs", self.id),
            "delivery": {
                "state": self.delivery.state,
                "attempts": self.delivery.attempts,
                "next_attempt_at": iso_time(self.delivery.next_at)
                if self.delivery.state == PENDING
                else None,
                "last_error": self.delivery.last_error,
                "delivered_at": iso_time(self.delivery.delivered_at),
                "outcome": self.delivery.outcome,
                "host_status": self.delivery.host_status,
                "host_answer": self.delivery.host_answer,
            },
            "actions": self.actions,
        }
        if include_envelope:
            shown["envelope"] = self.envelope
        return shown


def iso_time(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def refusal(status: int, at: float) -> str:
    """How a host's refusal of the callback credentials is shown to the operator."""
    return f"answered {status} at {iso_time(at)}: jobs.callback_headers are wrong or expired"

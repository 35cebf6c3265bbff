"""A subscription's registration at its source: the hook a trigger created there, kept as a record.

Its ``secret`` (the signing secret the daemon generated), ``settings`` (what tearing it down
needs once the subscription is gone from ``plugins.toml``), ``fingerprint`` and the trigger's
``registration`` are sealed by ``jobs.encryption_keys`` like events' payloads.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from connector_proxy.host import jsontext
from connector_proxy.jobs.model import iso_time
from connector_proxy.secrets.record_encryption import Sealer

PENDING, REGISTERED, FAILING, REMOVED = "pending", "registered", "failing", "removed"
REGISTRATION_STATES = (PENDING, REGISTERED, FAILING, REMOVED)
_SEALED = ("secret", "settings", "fingerprint", "registration")


@dataclass
class Registration:
    subscription: str
    trigger: str
    state: str = PENDING
    url: str = ""
    fingerprint: str = ""  # of the trigger, URL and settings it was set up with: a change sets it up again
    configured_at: float = 0.0  # the configuration that set it up: an older one never undoes it
    settings: Any = None
    secret: str | None = None
    registration: Any = None  # what the trigger's subscribe answered; None when nothing is set up
    attempts: int = 0  # failures in a row
    next_at: float | None = None  # when a failing one is tried again
    last_error: str | None = None  # the source's answer, when failing
    requested: bool = False  # an operator asked for it to be set up again
    removing: bool = False  # its subscription is gone: failing means the teardown failed
    updated_at: float = 0.0

    def to_json(self, sealer: Sealer) -> str:
        data = asdict(self)
        for name in _SEALED:
            data[name] = sealer.seal(data[name])
        return jsontext.dumps(data).decode()

    @classmethod
    def from_json(cls, text: str | bytes, sealer: Sealer) -> Registration:
        data = json.loads(text)
        for name in _SEALED:
            data[name] = sealer.open(data[name])
        return cls(**data)

    def describe(self) -> dict[str, Any]:
        """What /v1/subscriptions shows: never the secret, the settings or the trigger's registration."""
        return {
            "state": self.state,
            "url": self.url,
            "attempts": self.attempts,
            "next_attempt_at": iso_time(self.next_at) if self.state == FAILING else None,
            "last_error": self.last_error,
            "updated_at": iso_time(self.updated_at),
        }

    def touched(self) -> Registration:
        self.updated_at = time.time()
        return self

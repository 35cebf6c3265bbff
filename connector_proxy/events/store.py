"""The contract of an event store, written once; both stores pass one test suite against it
(``tests/events/test_contract.py``).

Besides events, a store keeps each polling subscription's cursor and its lease: the one
poller that may run it, across every worker process and machine sharing the store; and each
subscription's registration at its source (set up under a lease of the same kind).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from connector_proxy.events.model import StoredEvent
from connector_proxy.events.registration import Registration
from connector_proxy.stores.leases import LeaseLost

__all__ = ["EventStore", "LeaseLost", "Poll"]  # LeaseLost: the poll's lease passed on; nothing kept


@dataclass(frozen=True)
class Poll:
    """Who stores a poll's events (the lease's owner) and the cursor they move the subscription to."""

    subscription: str
    owner: str
    cursor: Any


class EventStore(Protocol):
    def add(self, events: Sequence[StoredEvent], poll: Poll | None = None) -> list[bool]:
        """Keep each event not kept already (same id); True for each new one, in order.

        With ``poll``, in one transaction with saving its cursor, and only while its owner holds the
        subscription's lease (else :class:`LeaseLost` and nothing is kept)."""
        ...

    def get(self, event_id: str) -> StoredEvent | None: ...

    def list(self, state: str | None = None, limit: int = 100) -> list[StoredEvent]:
        """Newest first, optionally only those in ``state``."""
        ...

    def save(self, event: StoredEvent) -> None:
        """Write the event as it is now (after a delivery attempt)."""
        ...

    def claim_due(self, hold: float) -> StoredEvent | None:
        """The pending event due soonest, if due now; no other process claims it for ``hold`` seconds."""
        ...

    def cursor(self, subscription: str) -> Any:
        """Where the subscription's last stored poll left off; None before the first."""
        ...

    def hold_lease(self, subscription: str, owner: str, seconds: float) -> bool:
        """Take the subscription's lease, or renew it if ``owner`` holds it; False if another does."""
        ...

    def release_lease(self, subscription: str, owner: str) -> None:
        """Give the lease up if ``owner`` holds it (a stopping worker's pollers)."""
        ...

    def record_poll(self, subscription: str, result: str, found: int, error: str | None) -> None:
        """After a poll of ``subscription`` (by its lease's holder): ok, failed (``error`` says why) or
        lease_lost, and how many events it found (see ``model.next_poll_record``)."""
        ...

    def polls(self) -> dict[str, dict[str, Any]]:
        """Each polled subscription's poll record: last poll, last success, failures in a row, last error."""
        ...

    def registration(self, subscription: str) -> Registration | None:
        """The subscription's registration at its source, if one was ever tried."""
        ...

    def registrations(self) -> Sequence[Registration]:
        """Every registration record, by subscription name."""
        ...

    def save_registration(self, registration: Registration) -> None:
        """Write the registration as it is now (by the registrar's lease holder, or an operator's request)."""
        ...

    def request_registration(self, subscription: str, at: float) -> None:
        """Note an operator's request to set the subscription up again: a note beside its record, never
        a rewrite of it (only the registrar's lease holder writes records)."""
        ...

    def registration_requests(self) -> dict[str, float]:
        """The operators' requests not yet taken: when each subscription's was made."""
        ...

    def take_registration_request(self, subscription: str, at: float) -> None:
        """The request made at ``at`` is being acted on: remove it, unless a newer one replaced it."""
        ...

    def prune_registrations(self, older_than: float) -> int:
        """Remove the records of registrations ``removed`` before ``older_than`` (a time); how many.
        A record written again meanwhile (set up anew) is kept. An operator's request made before
        ``older_than`` for a subscription with no record left goes too: its subscription was removed
        from the configuration before the registrar took it, and nothing else ever would."""
        ...

    def counts(self) -> dict[str, int]:
        """How many events are in each state now (for /metrics)."""
        ...

    def prune(self, older_than: float) -> int:
        """Remove delivered and dead events received before ``older_than`` (a time); how many."""
        ...

    def ping(self) -> None:
        """Raise if the store cannot be reached."""
        ...

    def recover(self) -> None:
        """At start-up, before any worker: deliveries and leases held by a stopped process are freed."""
        ...

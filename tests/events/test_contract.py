"""One contract, both event stores: the jobs' SQLite file and the jobs' Redis.

The Redis half uses ``$CONNECTOR_PROXY_TEST_REDIS_URL`` (default: database 13 on 127.0.0.1)
under a key prefix of its own, and deletes only those keys afterwards. Without a Redis it is
skipped, except in CI (``$CI`` set), where it must run.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connector_proxy.config import EventSettings, JobSettings
from connector_proxy.events.model import DEAD, DELIVERED, PENDING, StoredEvent, event_id
from connector_proxy.events.redis_store import RedisEventStore
from connector_proxy.events.registration import REGISTERED, REMOVED, Registration
from connector_proxy.events.sqlite import SCHEMA, SqliteEventStore
from connector_proxy.events.store import EventStore, LeaseLost, Poll
from connector_proxy.secrets.record_encryption import Sealer
from connector_proxy.stores.sqlite_file import SqliteFile
from tests.support import redis_or_skip, wait_until

REDIS_URL = os.environ.get("CONNECTOR_PROXY_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    sealer = Sealer(
        (Fernet.generate_key().decode(),)
    )  # payloads sealed at rest, as jobs.encryption_keys does
    if request.param == "sqlite":
        yield SqliteEventStore(SqliteFile(tmp_path / "jobs.sqlite3", SCHEMA), sealer)
        return
    prefix = f"cp-events-test-{uuid.uuid4().hex[:8]}"
    client = redis_or_skip(REDIS_URL)
    jobs = JobSettings(redis_url=REDIS_URL, redis_prefix=prefix)
    yield RedisEventStore(jobs, EventSettings(keep_delivered=60), sealer)
    for key in client.scan_iter(f"{prefix}:*"):  # only what this test made
        client.delete(key)


def event(key: str, subscription: str = "orders", payload: object = None) -> StoredEvent:
    return StoredEvent(subscription, "http/webhook", "order_received", key, payload or {"key": key})


def test_an_event_is_kept_once_however_often_it_arrives(store: EventStore) -> None:
    first, again = event("d-1"), event("d-1")

    assert store.add([first]) == [True]
    assert store.add([again, event("d-2")]) == [False, True]

    kept = store.get(first.id)
    assert kept is not None and kept.payload == {"key": "d-1"} and kept.state == PENDING
    assert first.id == event_id("orders", "d-1") != event_id("invoices", "d-1")  # per subscription
    assert store.counts() == {PENDING: 2, DELIVERED: 0, DEAD: 0}
    assert [e.key for e in store.list()] == ["d-2", "d-1"]  # newest first


def test_a_due_event_is_claimed_by_one_and_held(store: EventStore) -> None:
    store.add([event("d-1")])

    claimed = store.claim_due(hold=30)
    assert claimed is not None and claimed.key == "d-1"
    assert store.claim_due(hold=30) is None  # held: no other thread or process sends it meanwhile

    claimed.state, claimed.attempts, claimed.delivered_at, claimed.next_at = DELIVERED, 1, time.time(), None
    store.save(claimed)
    assert store.claim_due(hold=30) is None
    assert store.list(DELIVERED)[0].attempts == 1
    assert store.list(PENDING) == []
    assert store.counts()[DELIVERED] == 1


def test_a_retry_waits_for_its_time(store: EventStore) -> None:
    store.add([event("d-1")])
    claimed = store.claim_due(hold=30)
    assert claimed is not None
    due = time.time() + 0.3
    claimed.attempts, claimed.next_at = 1, due
    store.save(claimed)

    assert store.claim_due(hold=30) is None
    again = wait_until(lambda: store.claim_due(hold=30), 10, "the retry claimed at its time")
    assert again.attempts == 1 and time.time() >= due  # claimed once due, not before


def test_one_poller_holds_a_subscription_and_its_cursor_moves_with_its_events(store: EventStore) -> None:
    assert store.cursor("files") is None
    assert store.hold_lease("files", "worker-a", 0.5)
    renewed = time.time()
    assert store.hold_lease("files", "worker-a", 0.5)  # renewed by its holder
    assert not store.hold_lease("files", "worker-b", 0.5)

    assert store.add([event("f-1", "files")], Poll("files", "worker-a", {"after": 1})) == [True]
    assert store.cursor("files") == {"after": 1}
    with pytest.raises(LeaseLost):  # not the holder: nothing it polled is kept
        store.add([event("f-2", "files")], Poll("files", "worker-b", {"after": 2}))
    assert store.cursor("files") == {"after": 1} and store.get(event_id("files", "f-2")) is None

    # the holder died: its lease runs out, and only then may another take it
    wait_until(lambda: store.hold_lease("files", "worker-b", 5), 10, "worker-a's lease running out")
    assert time.time() >= renewed + 0.5
    with pytest.raises(LeaseLost):  # the old holder wakes up late: its poll is dropped
        store.add([event("f-2", "files")], Poll("files", "worker-a", {"after": 2}))
    store.release_lease("files", "worker-a")  # not its lease any more: nothing happens
    assert not store.hold_lease("files", "worker-a", 5)
    store.release_lease("files", "worker-b")
    assert store.hold_lease("files", "worker-a", 5)


def test_a_dead_on_arrival_event_is_kept_but_never_claimed(store: EventStore) -> None:
    unmapped = event("d-1")
    unmapped.state, unmapped.next_at, unmapped.last_error = DEAD, None, "the event has nothing at '/id'"

    assert store.add([unmapped]) == [True]
    assert store.claim_due(hold=30) is None
    kept = store.get(unmapped.id)
    assert kept is not None and kept.state == DEAD and kept.last_error == "the event has nothing at '/id'"
    assert store.counts()[DEAD] == 1


def test_old_finished_events_are_removed(store: EventStore) -> None:
    store.add([event("d-1"), event("d-2")])
    claimed = store.claim_due(hold=30)
    assert claimed is not None
    claimed.state, claimed.next_at = DELIVERED, None
    store.save(claimed)

    if isinstance(store, RedisEventStore):  # a finished record expires by itself
        assert 0 < store.redis.ttl(store._key(claimed.id)) <= 60
        assert store.redis.ttl(store._key(event_id("orders", "d-2"))) == -1  # a pending one never does
        store.redis.delete(store._key(claimed.id))  # as its expiry will: the index is tidied when read
    else:
        assert store.prune(time.time() - 60) == 0  # not old enough yet
        assert store.prune(time.time() + 1) == 1
        assert store.get(claimed.id) is None
    store.ping()
    assert [e.state for e in store.list()] == [PENDING]
    assert store.counts()[PENDING] == 1


def test_a_pollers_record_keeps_its_last_success_and_its_failures_in_a_row(store: EventStore) -> None:
    store.record_poll("bucket", "ok", 3, None)
    store.record_poll("bucket", "failed", 0, "AccessDenied: no")
    store.record_poll("bucket", "failed", 0, "the trigger raised KeyError")
    failing = store.polls()["bucket"]
    store.record_poll("bucket", "lease_lost", 0, None)
    store.record_poll("bucket", "ok", 0, None)
    healed = store.polls()["bucket"]

    assert failing["failures_in_a_row"] == 2 and failing["last_error"] == "the trigger raised KeyError"
    assert failing["last_result"] == "failed" and failing["last_ok_at"] < failing["last_poll_at"]
    assert (healed["failures_in_a_row"], healed["last_error"], healed["last_result"]) == (0, None, "ok")
    assert healed["last_ok_at"] == healed["last_poll_at"]
    assert set(store.polls()) == {"bucket"}


def test_a_registration_is_kept_sealed_and_listed(store: EventStore) -> None:
    from connector_proxy.events.registration import FAILING, REGISTERED, Registration

    assert store.registration("shop") is None and list(store.registrations()) == []
    record = Registration("shop", "erp/order", url="https://proxy.example/v1/inbound/erp/order/shop")
    record.secret, record.settings, record.registration = "s3cret", {"token": "t0k"}, {"id": "h-1"}
    record.state = REGISTERED
    store.save_registration(record.touched())
    store.save_registration(Registration("another", "erp/order", state=FAILING, last_error="503: down"))

    kept = store.registration("shop")
    assert kept is not None and kept == record
    assert [r.subscription for r in store.registrations()] == ["another", "shop"]
    if isinstance(store, RedisEventStore):
        raw = str(store.redis.hget(f"{store.prefix}:registrations", "shop"))
    else:
        assert isinstance(store, SqliteEventStore)
        raw = store.file.read().execute("SELECT data FROM event_registrations").fetchone()[0]
    assert "s3cret" not in raw and "h-1" not in raw  # sealed at rest
    assert "s3cret" not in str(kept.describe())  # never shown

    kept.state, kept.registration = FAILING, None
    store.save_registration(kept)
    again = store.registration("shop")
    assert again is not None and again.state == FAILING and again.registration is None


def test_removed_registrations_are_forgotten_after_the_retention(store: EventStore) -> None:
    old, recent = time.time() - 3600, time.time()
    store.save_registration(Registration("gone_long_ago", "http/webhook", REMOVED, updated_at=old))
    store.save_registration(Registration("gone_just_now", "http/webhook", REMOVED, updated_at=recent))
    store.save_registration(Registration("kept", "http/webhook", REGISTERED, updated_at=old))

    assert store.prune_registrations(time.time() - 60) == 1
    assert [r.subscription for r in store.registrations()] == ["gone_just_now", "kept"]
    assert store.prune_registrations(time.time() - 60) == 0


def test_an_operators_request_whose_subscription_went_is_forgotten_with_its_record(store: EventStore) -> None:
    """A request noted, then its subscription removed from plugins.toml before the registrar took it:
    nothing ever takes it, so it goes with the removed record (or at once if there is none)."""
    old, recent = time.time() - 3600, time.time()
    store.save_registration(Registration("gone_long_ago", "http/webhook", REMOVED, updated_at=old))
    store.save_registration(Registration("kept", "http/webhook", REGISTERED, updated_at=old))
    store.request_registration("gone_long_ago", old - 10)
    store.request_registration("never_recorded", old)  # removed before the registrar's first turn
    store.request_registration("kept", old)  # its subscription's record is there: the registrar takes it
    store.request_registration("just_asked", recent)  # the registrar has not had its turn yet

    assert store.prune_registrations(time.time() - 60) == 1
    assert store.registration_requests() == {"kept": old, "just_asked": recent}


def test_an_operators_request_is_a_note_taken_once_unless_renewed(store: EventStore) -> None:
    store.save_registration(Registration("shop", "http/webhook", REGISTERED, registration={"id": "h-1"}))
    store.request_registration("shop", 100.5)
    store.request_registration("shop", 200.25)  # asked again before the registrar took the first

    assert store.registration_requests() == {"shop": 200.25}
    store.take_registration_request("shop", 100.5)  # the older one: the newer stays
    assert store.registration_requests() == {"shop": 200.25}
    store.take_registration_request("shop", 200.25)
    assert store.registration_requests() == {}
    kept = store.registration("shop")
    assert kept is not None and kept.registration == {"id": "h-1"}  # the record itself never rewritten

"""The registrar's decisions, turn by turn, in this process: the daemon's app with the sample
connector, its store (the SQLite file), and the fake ERP of ``tests/events/test_registration.py``
on 127.0.0.1. (The daemon under gunicorn is tested there; here each turn is asked for by hand.)"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector_proxy.events.registrar import Registrar
from connector_proxy.events.service import Events
from connector_proxy.web.state import proxy_state_of
from tests.events.test_registration import Erp
from tests.support import TEST_CONFIG, client_from


@pytest.fixture
def erp() -> Iterator[Erp]:
    source = Erp()
    yield source
    source.close()


def events_of(tmp_path: Path, erp: Erp, public_url: str = "https://proxy.example") -> Events:
    toml = (
        f'{TEST_CONFIG}\n[events]\nhost_url = "http://127.0.0.1:9"\npublic_url = "{public_url}"\n'
        '[subscriptions.erp_orders]\ntrigger = "sample/erp_order"\nmessage = "erp_order"\n'
        f'settings = {{ erp_url = "{erp.url}" }}\n'
    )
    return proxy_state_of(client_from(tmp_path, toml).application).events


def registrar_of(events: Events) -> Registrar:
    assert events.background is not None and events.background.registrar is not None
    return events.background.registrar


def test_a_failing_source_is_asked_again_only_after_its_backoff(tmp_path: Path, erp: Erp) -> None:
    events = events_of(tmp_path, erp)
    registrar = registrar_of(events)
    registrar.turn("worker-a")
    registrar.turn("worker-a")
    assert erp.created == 1 and events.registrations()["erp_orders"].state == "registered"
    events.register_again("erp_orders", by="test")
    registrar.turn("worker-b")  # worker-a holds the lease: worker-b does nothing
    assert erp.created == 1
    registrar.turn("worker-a")
    assert erp.created == 2 and len(erp.hooks) == 1  # torn down, then set up again

    erp.down = True
    events.register_again("erp_orders", by="test")
    registrar.turn("worker-a")
    failing = events.registrations()["erp_orders"]
    asked = len(erp.deleted)
    registrar.turn("worker-a")  # at once: not due yet
    assert failing.state == "failing" and failing.attempts == 1 and "503" in (failing.last_error or "")
    assert len(erp.deleted) == asked and events.failing_registrations() == {"erp_orders": failing.last_error}


def test_an_older_configuration_neither_removes_nor_redoes_a_newer_ones_registration(
    tmp_path: Path, erp: Erp
) -> None:
    events = events_of(tmp_path, erp)
    newer = registrar_of(events)
    newer.turn("worker-a")
    newer.release("worker-a")
    older = Registrar(events.store, newer.settings, {}, newer.triggers, newer.configured_at - 60)

    older.turn("worker-old")  # its configuration has no such subscription: it leaves the hook alone
    assert len(erp.hooks) == 1 and events.registrations()["erp_orders"].state == "registered"


def test_without_a_public_url_the_registration_fails_and_says_why(tmp_path: Path, erp: Erp) -> None:
    events = events_of(tmp_path, erp)
    registrar = registrar_of(events)
    registrar.settings = dataclasses.replace(registrar.settings, public_url="")
    registrar.turn("worker-a")
    record = events.registrations()["erp_orders"]
    assert record.state == "failing" and "events.public_url is not set" in (record.last_error or "")
    assert erp.created == 0


def test_an_operators_request_leaves_the_record_to_the_leases_holder(tmp_path: Path, erp: Erp) -> None:
    events = events_of(tmp_path, erp)
    registrar = registrar_of(events)
    registrar.turn("worker-a")
    before = events.store.registration("erp_orders")

    events.register_again("erp_orders", by="test")  # as a set-up is under way elsewhere, say

    assert events.store.registration("erp_orders") == before  # not rewritten: nothing to race
    assert list(events.store.registration_requests()) == ["erp_orders"]
    registrar.turn("worker-a")
    assert events.store.registration_requests() == {} and erp.created == 2 and len(erp.hooks) == 1

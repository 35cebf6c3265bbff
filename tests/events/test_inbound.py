"""Inbound events end to end: the real daemon under gunicorn, real signed requests, and a host's
message API on 127.0.0.1 (``MessageHost``) that takes messages as the real route does."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connector_proxy.sdk.testing import free_port
from connector_proxy.testing import Message, MessageHost
from tests.support import Daemon, error_code, wait_until

API_KEY = "proxy-api-key-0123456789"
HOST_KEY = "host-service-account-key-42"
ORDERS_SECRET = "orders-webhook-secret-0123456789"
TICKETS_TOKEN = "tickets-shared-token-0123456789"
ENVIRON = {"ORDERS_SECRET": ORDERS_SECRET, "TICKETS_TOKEN": TICKETS_TOKEN, "HOST_KEY": HOST_KEY}
SUBSCRIPTIONS = """
[subscriptions.orders]
trigger = "http/webhook"
message = "shop/order_received"
settings.secret = "env:ORDERS_SECRET"
settings.id_header = "X-Shop-Delivery"
settings.timestamp_header = "X-Shop-Timestamp"
payload = { order_id = "/body/id", email = "/body/customer/email" }

[subscriptions.tickets]
trigger = "http/webhook"
message = "ticket_opened"
settings.verify = "token"
settings.secret = "env:TICKETS_TOKEN"
settings.token_header = "Authorization"
settings.token_prefix = "Bearer "
template = '{"ticket": {{ event.body.number | tojson }}, "title": {{ event.body.title | upper | tojson }}}'
"""


def config(folder: Path, host_url: str, events: str = "", subscriptions: str = SUBSCRIPTIONS) -> Path:
    path = folder / "plugins.toml"
    path.write_text(
        f'[server]\nworkers = 2\n[auth]\napi_keys = ["{API_KEY}"]\n'
        f'[jobs]\nsqlite_path = "{folder / "jobs.sqlite3"}"\n'
        "[discovery]\nenable_unlisted = false\n[connectors.http]\nenabled = true\n"
        f'[events]\nhost_url = "{host_url}"\nhost_api_key = "env:HOST_KEY"\n{events}\n{subscriptions}'
    )
    return path


@pytest.fixture
def host() -> Iterator[MessageHost]:
    with MessageHost(api_key=HOST_KEY, fail_first=2) as running:  # down for the first two attempts
        yield running


def signed(
    body: bytes, delivery: str, at: float | None = None, secret: str = ORDERS_SECRET, stamp: str = ""
) -> dict[str, str]:
    stamp = stamp or str(int(time.time() if at is None else at))
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-Shop-Timestamp": stamp, "X-Shop-Delivery": delivery}


def post(daemon: Daemon, path: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{daemon.url}{path}", data=body, headers=headers, timeout=10)


def shown(daemon: Daemon, path: str) -> Any:
    answer = requests.get(
        f"{daemon.url}{path}", headers={"Spiff-Connector-Proxy-Api-Key": API_KEY}, timeout=5
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def metric(daemon: Daemon, line: str) -> float:
    text = requests.get(
        f"{daemon.url}/metrics", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5
    ).text
    found = [row for row in text.splitlines() if row.startswith(line + " ")]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


def test_signed_webhooks_become_messages_once_each(tmp_path: Path, host: MessageHost) -> None:
    order = json.dumps({"id": 1042, "customer": {"email": "ada@example.com"}}).encode()
    ticket = json.dumps({"number": 7, "title": "printer on fire"}).encode()
    with Daemon(config(tmp_path, host.url), ENVIRON, tmp_path / "daemon.log") as daemon:
        accepted = post(daemon, "/v1/inbound/http/webhook/orders", order, signed(order, "delivery-1"))
        replayed = post(daemon, "/v1/inbound/http/webhook/orders", order, signed(order, "delivery-1"))
        by_token = post(
            daemon, "/v1/inbound/http/webhook/tickets", ticket, {"Authorization": f"Bearer {TICKETS_TOKEN}"}
        )

        assert accepted.status_code == 202, accepted.text
        [stored] = accepted.json()["events"]
        assert stored["duplicate"] is False and stored["state"] == "pending"
        assert replayed.status_code == 202 and replayed.json()["events"][0] == {**stored, "duplicate": True}
        assert by_token.status_code == 202, by_token.text

        messages = {m.name: m for m in host.wait_for(2)}
        assert set(messages) == {"shop:order_received", "ticket_opened"}  # slashes as colons
        assert messages["shop:order_received"] == Message(
            "shop:order_received",
            None,  # no execution_mode unless the operator sets one: a host without Celery refuses it
            stored["id"],
            {"order_id": 1042, "email": "ada@example.com"},
            HOST_KEY,
            messages["shop:order_received"].request_id,
            messages["shop:order_received"].arrived,
        )
        assert messages["ticket_opened"].payload == {"ticket": 7, "title": "PRINTER ON FIRE"}
        assert messages["shop:order_received"].request_id == accepted.headers["X-Request-Id"]

        for each in shown(daemon, "/v1/events")["events"]:  # the host answered; now each is recorded
            _settled(daemon, each["status_url"])
        after = post(daemon, "/v1/inbound/http/webhook/orders", order, signed(order, "delivery-1"))
        assert after.json()["events"][0] == {**stored, "duplicate": True, "state": "delivered"}  # as stored
        event = shown(daemon, stored["status_url"])
        assert event["state"] == "delivered" and event["host_status"] == 200
        assert event["subscription"] == "orders" and event["key"] == hashlib.sha256(order).hexdigest()
        assert event["message_instance_uuid"] == stored["id"] and "payload" not in event
        attempts = sum(e["attempts"] for e in shown(daemon, "/v1/events")["events"])
        assert attempts == 4 and host.attempts == 4  # two refused with 503, then one each
        retried = [e for e in shown(daemon, "/v1/events?state=delivered")["events"] if e["attempts"] > 1]
        assert retried and all(e["last_error"] is None for e in retried)  # delivered: no error now
        time.sleep(1.5)  # a duration, not an event: a quiet window in which nothing else may go out
        assert len(host.messages) == 2 and host.attempts == 4

        received = 'connector_proxy_events_received_total{outcome="%s",subscription="orders"}'
        assert metric(daemon, received % "stored") == 1
        assert metric(daemon, received % "duplicate") == 2
        delivered = 'connector_proxy_event_deliveries_total{result="%s",subscription="%s"}'
        assert (
            metric(daemon, delivered % ("delivered", "orders"))
            + metric(daemon, delivered % ("delivered", "tickets"))
            == 2
        )
        assert metric(daemon, 'connector_proxy_events{state="delivered"}') == 2


def test_a_captured_request_replayed_under_fresh_delivery_ids_is_one_event(
    tmp_path: Path, host: MessageHost
) -> None:
    """The delivery id is not signed: the event's identity is the signed body's hash."""
    order = json.dumps({"id": 77, "customer": {"email": "eve@example.com"}}).encode()
    captured = signed(order, "delivery-original")
    with Daemon(config(tmp_path, host.url), ENVIRON, tmp_path / "daemon.log") as daemon:
        path = "/v1/inbound/http/webhook/orders"
        answers = [
            post(daemon, path, order, {**captured, "X-Shop-Delivery": f"fresh-{n}"}) for n in range(20)
        ]
        host.wait_for(1)
        time.sleep(0.5)  # a duration, not an event: a quiet window in which a second message would arrive
        events = shown(daemon, "/v1/events")["events"]

    assert [a.status_code for a in answers] == [202] * 20
    assert sum(a.json()["events"][0]["duplicate"] for a in answers) == 19
    assert len(events) == 1 and len(host.messages) == 1


def test_forged_replayed_and_malformed_requests_are_refused_and_nothing_is_stored(
    tmp_path: Path, host: MessageHost
) -> None:
    order = json.dumps({"id": 1, "customer": {"email": "ada@example.com"}}).encode()
    with Daemon(config(tmp_path, host.url), ENVIRON, tmp_path / "daemon.log") as daemon:
        path = "/v1/inbound/http/webhook/orders"
        cases = {
            "forged": (order, signed(order, "d-1", secret="not-the-secret-0123456789")),
            "tampered": (order.replace(b"1", b"2"), signed(order, "d-2")),
            "unsigned": (order, {"X-Shop-Delivery": "d-3"}),
            "replayed an hour later": (order, signed(order, "d-4", at=time.time() - 3600)),
            "stamp changed": (order, {**signed(order, "d-5"), "X-Shop-Timestamp": str(int(time.time()) + 1)}),
            "stamp unreadable": (order, signed(order, "d-6", stamp="soon")),
            "stamp nan": (order, signed(order, "d-6", stamp="nan")),
            "stamp inf": (order, signed(order, "d-6", stamp="inf")),
        }
        codes = {}
        for case, (body, headers) in cases.items():
            answer = post(daemon, path, body, headers)
            assert answer.headers["Content-Type"] == "application/json"
            codes[case] = (answer.status_code, error_code(answer.status_code, answer.json()))
        assert codes == {
            "forged": (401, "InvalidSignature"),
            "tampered": (401, "InvalidSignature"),
            "unsigned": (401, "InvalidSignature"),
            "replayed an hour later": (401, "RequestExpired"),
            "stamp changed": (401, "InvalidSignature"),  # it is signed too
            "stamp unreadable": (401, "RequestExpired"),
            "stamp nan": (401, "RequestExpired"),  # would never be stale
            "stamp inf": (401, "RequestExpired"),
        }

        no_email = json.dumps({"id": 2}).encode()
        unmapped = post(daemon, path, no_email, signed(no_email, "d-7"))
        assert unmapped.status_code == 400
        assert unmapped.json()["error"] == {
            "error_code": "InvalidEvent",
            "message": "subscription orders: the event has nothing at '/body/customer/email'",
        }
        wrong_token = post(
            daemon, "/v1/inbound/http/webhook/tickets", b"{}", {"Authorization": "Bearer nope"}
        )
        assert wrong_token.status_code == 401
        unknown = post(daemon, "/v1/inbound/http/webhook/nobody", order, signed(order, "d-7"))
        assert (unknown.status_code, unknown.json()["error"]["error_code"]) == (404, "SubscriptionNotFound")
        ambiguous = post(daemon, "/v1/inbound/http/webhook", order, signed(order, "d-8"))
        assert ambiguous.status_code == 404  # two subscriptions: the path must name one

        assert shown(daemon, "/v1/events")["events"] == []
        assert requests.get(f"{daemon.url}/v1/events", timeout=5).status_code == 401  # the list needs the key
        refused = 'connector_proxy_events_received_total{outcome="refused",subscription="orders"}'
        assert metric(daemon, refused) == 9  # the eight cases above and the unmapped event
        time.sleep(1)  # a duration, not an event: a quiet window in which nothing refused may be sent
        assert host.attempts == 0
        log = (tmp_path / "daemon.log").read_text()
        assert ORDERS_SECRET not in log and TICKETS_TOKEN not in log and HOST_KEY not in log


def test_a_message_the_host_refuses_is_dead_lettered_with_its_answer(tmp_path: Path) -> None:
    with MessageHost(api_key=HOST_KEY, refuse=400) as refusing:
        path = config(tmp_path, refusing.url)
        order = json.dumps({"id": 3, "customer": {"email": "ada@example.com"}}).encode()
        with Daemon(path, ENVIRON, tmp_path / "daemon.log") as daemon:
            accepted = post(daemon, "/v1/inbound/http/webhook/orders", order, signed(order, "d-1"))
            [stored] = accepted.json()["events"]
            event = _settled(daemon, stored["status_url"])
            refusing.refuse = None  # the model that waits for the message is deployed now
            retry = f"{daemon.url}{stored['status_url']}/retry"
            retried = requests.post(retry, headers={"Spiff-Connector-Proxy-Api-Key": API_KEY}, timeout=5)
            [message] = refusing.wait_for(1)
            again = _settled(daemon, stored["status_url"], settled=("delivered",))
            replayed = requests.post(
                f"{refusing.url}/messages/shop:order_received?message_instance_uuid={stored['id']}",
                json={},
                headers={"SpiffWorkflow-Api-Key": HOST_KEY},
                timeout=5,
            )
            not_dead = requests.post(retry, headers={"Spiff-Connector-Proxy-Api-Key": API_KEY}, timeout=5)

    assert retried.status_code == 202 and retried.json()["state"] == "pending"
    # the host replays its refusal of the first uuid, so the retry is a new message, sent once
    assert replayed.status_code == 400
    assert message.message_instance_uuid == again["message_instance_uuid"] != stored["id"]
    assert message.payload["order_id"] == 3 and again["retries"] == 1
    assert again["state"] == "delivered" and again["attempts"] == 2 and again["host_status"] == 200
    assert (not_dead.status_code, not_dead.json()["error"]["error_code"]) == (409, "EventNotDead")
    assert event["state"] == "dead" and event["attempts"] == 1 and event["host_status"] == 400
    assert event["host_answer"] == {
        "error_code": "message_not_accepted",
        "message": "no process waits for it",
    }
    assert event["last_error"] == "the host answered 400"


def test_an_unreachable_host_is_retried_until_the_give_up_time(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1.0"  # nothing listens there
    path = config(tmp_path, closed, events="give_up_after = 2.5\n")
    order = json.dumps({"id": 4, "customer": {"email": "ada@example.com"}}).encode()
    with Daemon(path, ENVIRON, tmp_path / "daemon.log") as daemon:
        [stored] = post(daemon, "/v1/inbound/http/webhook/orders", order, signed(order, "d-1")).json()[
            "events"
        ]
        event = _settled(daemon, stored["status_url"])
        assert metric(daemon, 'connector_proxy_events{state="dead"}') == 1

    assert event["state"] == "dead" and event["attempts"] >= 2
    assert event["last_error"] == "NewConnectionError: the host could not be reached"


def _settled(
    daemon: Daemon, status_url: str, seconds: float = 20, settled: tuple[str, ...] = ("delivered", "dead")
) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        event = shown(daemon, status_url)
        if event["state"] in settled:
            return event
        time.sleep(0.1)
    raise AssertionError(f"still pending after {seconds} s: {event}")


def _one_worker(folder: Path, host_url: str, events: str) -> Path:
    path = config(folder, host_url, events)
    path.write_text(path.read_text().replace("workers = 2", "workers = 1"))  # one worker's limits
    return path


def _raw(daemon: Daemon, head: str, body: bytes = b"") -> socket.socket:
    port = int(daemon.url.rsplit(":", 1)[1])
    connection = socket.create_connection(("127.0.0.1", port), timeout=5)
    connection.sendall(head.encode() + body)
    return connection


def _posted_until(daemon: Daemon, path: str, body: bytes, status: int, what: str) -> requests.Response:
    """A forged post sent again until it is answered with ``status``: the state it shows is waited for."""
    answered: list[requests.Response] = wait_until(
        lambda: [
            a
            for a in [post(daemon, path, body, {"X-Hub-Signature-256": "sha256=00"})]
            if a.status_code == status
        ],
        10,
        what,
    )
    return answered[0]


def _status_of(connection: socket.socket) -> int:
    return int(connection.recv(4096).split(b" ", 2)[1])


def test_forged_bodies_cost_little_before_the_signature_is_checked(tmp_path: Path, host: MessageHost) -> None:
    """Big bodies are refused on their Content-Length unread; a worker verifies a bounded number of
    requests at once and a bounded number of bytes a second; beyond, 503 InboundBusy, unread."""
    limits = "max_body_bytes = 65536\nmax_unverified = 1\nunverified_bytes_per_second = 65536\n"
    path = "/v1/inbound/http/webhook/orders"
    head = "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
    head += "X-Hub-Signature-256: sha256=00\r\n\r\n"
    with Daemon(_one_worker(tmp_path, host.url, limits), ENVIRON, tmp_path / "daemon.log") as daemon:
        huge = _raw(daemon, head.format(path=path, length=50_000_000))  # headers only: no body is sent
        started = time.monotonic()
        huge_status, answered_in = _status_of(huge), time.monotonic() - started
        slow = _raw(daemon, head.format(path=path, length=1000), b"{")  # holds the one slot, unfinished
        crowded = _posted_until(daemon, path, b"{}", 503, "the slow request holding the one slot")
        slow.close()
        _posted_until(daemon, path, b"{}", 401, "the slot freed")  # two bytes of the budget
        forged = b"x" * 40_000
        first = post(daemon, path, forged, {"X-Hub-Signature-256": "sha256=00"})
        over_budget = post(daemon, path, forged, {"X-Hub-Signature-256": "sha256=00"})
        later = _posted_until(daemon, path, forged, 401, "the budget refilled")  # refused unread till then

    assert huge_status == 413 and answered_in < 2
    assert (crowded.status_code, crowded.json()["error"]["error_code"]) == (503, "InboundBusy")
    assert first.status_code == 401 and later.status_code == 401
    assert (over_budget.status_code, over_budget.json()["error"]["error_code"]) == (503, "InboundBusy")

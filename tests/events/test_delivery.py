"""Delivery to a host that answers as spiff-arena's backend does (MessageHost, measured on it): the
async-mode refusal, answers replayed per message_instance_uuid, the buffering option."""

from __future__ import annotations

import requests

from connector_proxy.config import EventSettings
from connector_proxy.events.delivery import MessageSender
from connector_proxy.events.model import DEAD, DELIVERED, StoredEvent
from connector_proxy.testing import MessageHost


def event() -> StoredEvent:
    return StoredEvent("orders", "http/webhook", "order_received", "order-7", {"order_id": 7})


def sender(host: MessageHost, **settings: object) -> MessageSender:
    return MessageSender(EventSettings(host_url=host.url, give_up_after=60.0, **settings))  # type: ignore[arg-type]


def test_by_default_no_execution_mode_is_sent_and_the_host_takes_the_message() -> None:
    with MessageHost() as host:
        stored = event()
        sender(host).deliver(stored)

    assert stored.state == DELIVERED and host.messages[0].execution_mode is None


def test_asynchronous_on_a_host_without_celery_is_a_final_refusal() -> None:
    with MessageHost() as host:
        stored = event()
        sender(host, execution_mode="asynchronous").deliver(stored)

    assert stored.state == DEAD and stored.host_status == 400 and host.messages == []
    assert stored.host_answer["error_code"] == "async_mode_called_without_celery"


def test_a_2xx_replaying_a_failed_message_is_not_a_delivery() -> None:
    """The host kept a failed instance for this uuid (its answer to an earlier try was lost)."""
    with MessageHost() as host:
        stored = event()
        earlier = {"execution_mode": "asynchronous", "message_instance_uuid": stored.id}
        requests.post(f"{host.url}/messages/order_received", params=earlier, json={}, timeout=5)
        sender(host).deliver(stored)

    assert stored.state == DEAD and stored.host_status == 202 and host.messages == []
    assert stored.last_error == "the host answered 202, its message failed"


def test_a_time_to_live_asks_the_host_to_buffer_the_message() -> None:
    with MessageHost() as host:
        url = sender(host, time_to_live_in_seconds=120).url(event())

    assert "time_to_live_in_seconds=120" in url and f"message_instance_uuid={event().id}" in url


def test_a_delivered_event_keeps_no_error_from_the_tries_before() -> None:
    with MessageHost(fail_first=1) as host:
        stored = event()
        post = sender(host)
        post.deliver(stored)
        failed_first = (stored.state, stored.last_error)
        post.deliver(stored)

    assert failed_first[0] != DELIVERED and failed_first[1]
    assert stored.state == DELIVERED and stored.last_error is None and stored.attempts == 2

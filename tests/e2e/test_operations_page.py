"""The operations page at ``/operations`` in headless Chromium, against the real daemon under gunicorn,
a host that refuses a callback, a host that dead-letters an event, and an isolated worker that crashes:
the operator sees each, filters, sends the callback again, retries the event, cancels a queued job
and signs out; ``GET /v1/operations`` holds the same."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page

from connector_proxy.sdk.testing import CallbackReceiver
from connector_proxy.testing import MessageHost
from tests.e2e.test_page import browser  # noqa: F401 - the module's Chromium, shared
from tests.support import TEST_ENV, Daemon, wait_until

KEY = "operations-key-0123456789"
HEADERS = {"Spiff-Connector-Proxy-Api-Key": KEY}


def until(what: Callable[[], Any], seconds: float = 20) -> Any:
    return wait_until(what, seconds, "it")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Daemon, CallbackReceiver, MessageHost]]:
    receiver, host = CallbackReceiver(refuse=400), MessageHost(refuse=400)
    config = tmp_path / "plugins.toml"
    config.write_text(
        f"""
[server]
workers = 1
[auth]
api_keys = ["{KEY}"]
[connectors.sample.config]
token = "env:SAMPLE_TOKEN"
[connectors.unruly]
python = "{sys.executable}"
workers = 1
[jobs]
sqlite_path = "jobs.sqlite3"
threads = 1
callback_allow = ["127.0.0.1"]
[events]
host_url = "{host.url}"
[subscriptions.signups]
trigger = "sample/signup"
message = "signed_up"
settings = {{ secret = "signup-token-0123456789" }}
"""
    )
    with Daemon(config, TEST_ENV, tmp_path / "daemon.log") as daemon:
        yield daemon, receiver, host
    receiver.close()
    host.__exit__(None, None, None)


def job(daemon: Daemon, seconds: float, callback: str | None) -> str:
    payload = {
        "seconds": seconds,
        "spiff__task_id": f"t-{time.monotonic_ns()}",
        "spiff__callback_url": callback,
    }
    answer = requests.post(
        f"{daemon.url}/v1/do/sample/Sleep",
        json=payload,
        headers={**HEADERS, "Prefer": "respond-async"},
        timeout=10,
    )
    job_id: str = answer.json()["command_response"]["body"]["job_id"]
    return job_id


def shown_job(daemon: Daemon, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = requests.get(f"{daemon.url}/v1/jobs/{job_id}", headers=HEADERS, timeout=5).json()
    return found


def test_an_operator_sees_what_went_wrong_and_mends_it_from_the_page(
    world: tuple[Daemon, CallbackReceiver, MessageHost],
    browser: Browser,  # noqa: F811
) -> None:
    daemon, receiver, host = world
    refused = job(daemon, 0.05, f"{receiver.url}/callback/refused")
    until(lambda: shown_job(daemon, refused)["delivery"]["state"] == "undeliverable")
    signup = requests.post(
        f"{daemon.url}/v1/inbound/sample/signup",
        json={"email": "ada@example.com"},
        headers={"X-Webhook-Token": "signup-token-0123456789"},
        timeout=10,
    ).json()["events"][0]
    dead = signup["status_url"].rsplit("/", 1)[1]
    until(
        lambda: (
            requests.get(f"{daemon.url}/v1/events/{dead}", headers=HEADERS, timeout=5).json()["state"]
            == "dead"
        )
    )
    crashed = requests.post(f"{daemon.url}/v1/do/unruly/Crash", json={}, headers=HEADERS, timeout=30).json()
    busy = job(daemon, 8, None)  # holds the one job thread while the next is cancelled
    until(lambda: shown_job(daemon, busy)["state"] == "running")
    queued = job(daemon, 0.05, f"{receiver.url}/callback/cancelled")
    summary = requests.get(f"{daemon.url}/v1/operations", headers=HEADERS, timeout=10).json()

    page: Page = browser.new_page()
    page.goto(f"{daemon.url}/operations")
    page.fill("#api_key", KEY)
    page.click("text=Sign in")
    attention = page.locator("#attention").inner_text()
    page.select_option("#jobs-filter", "undeliverable")
    page.locator("form", has=page.locator("#jobs-filter")).locator("button").click()
    filtered = [row.get_attribute("id") for row in page.locator("#jobs tr[id]").all()]
    workers = page.locator("#workers-unruly").inner_text()

    receiver.refuse = None  # the host's credentials mended: the callback goes through now
    page.locator(f'tr[id="{refused}"] button', has_text="Send callback again").click()
    resent = page.locator("[role=status]").inner_text()
    until(lambda: shown_job(daemon, refused)["delivery"]["state"] == "delivered")
    host.refuse = None  # the model that catches the message is deployed now
    page.goto(f"{daemon.url}/operations?events=dead")
    page.locator(f'tr[id="{dead}"] button', has_text="Retry").click()
    until(lambda: host.messages)
    page.locator(f'tr[id="{queued}"] button', has_text="Cancel").click()
    cancelled = shown_job(daemon, queued)
    page.reload()
    row = page.locator(f'tr[id="{queued}"]').inner_text()
    page.click("text=Sign out")
    signed_out = page.locator("#api_key").is_visible()
    page.close()

    assert crashed["error"]["error_code"] == "WorkerCrashed"
    assert summary["attention"] == {
        "undeliverable_jobs": 1,
        "recovering_jobs": 0,
        "dead_events": 1,
        "failing_pollers": 0,
        "failing_registrations": 0,
        "workers_lost": 1,
    }
    assert [j["id"] for j in summary["jobs"]["shown"] if j["state"] == "queued"] == [queued]
    assert "undeliverable callbacks: 1" in attention and "dead events: 1" in attention
    assert "isolated workers lost: 1" in attention
    assert filtered == [refused]
    assert "crashed 1" in workers
    assert resent == f"redeliver: {refused}: done"
    assert [a["action"] for a in shown_job(daemon, refused)["actions"]] == ["redeliver"]
    assert shown_job(daemon, refused)["actions"][0]["by"] == "page"
    assert [m.name for m in host.messages] == ["signed_up"]
    assert cancelled["state"] == "failed" and cancelled["envelope"]["error"]["error_code"] == "JobCancelled"
    assert "failed: JobCancelled" in row and "cancel (page)" in row
    assert signed_out
    told = until(lambda: dict(receiver.received).get("/callback/cancelled"))
    assert told["error"]["error_code"] == "JobCancelled"  # the host's task fails rather than waits
    settled = until(lambda: (job := shown_job(daemon, queued))["delivery"]["state"] == "delivered" and job)
    assert settled["delivery"]["outcome"] == "task_failed"  # taken: no boundary event caught it


def test_an_action_without_the_pages_session_is_refused(
    world: tuple[Daemon, CallbackReceiver, MessageHost],
) -> None:
    daemon, _receiver, _host = world
    answer = requests.post(
        f"{daemon.url}/page/operations/cancel/anything", data={"csrf": "forged"}, timeout=10
    )
    bad_filter = requests.get(f"{daemon.url}/v1/operations?jobs=lost", headers=HEADERS, timeout=10)

    assert answer.status_code == 401 and answer.json()["error_code"] == "Unauthorized"
    assert bad_filter.status_code == 400 and "jobs must be one of" in bad_filter.json()["error"]["message"]

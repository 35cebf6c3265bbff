"""Subscriptions that set themselves up at their source, through the real daemon under gunicorn.

The source is a fake ERP on 127.0.0.1 that keeps hooks (``POST /hooks`` answers their id,
``DELETE /hooks/<id>``) and posts HMAC-signed events to each hook's URL with its secret; the
sample connector's ``erp_order`` trigger registers there, with a secret the daemon generates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from connector_proxy.events.registration import REGISTERED, Registration
from connector_proxy.events.sqlite import SCHEMA, SqliteEventStore
from connector_proxy.sdk.testing import free_port
from connector_proxy.secrets.record_encryption import Sealer
from connector_proxy.stores.sqlite_file import SqliteFile
from connector_proxy.testing import MessageHost, processes
from tests.support import Daemon, redis_or_skip, wait_until

API_KEY = "proxy-api-key-0123456789"
HOST_KEY = "host-service-account-key-42"
HEADERS = {"Spiff-Connector-Proxy-Api-Key": API_KEY}


TRICKY_IDS = {"tricky": "../../admin", "crlf": "h\r\nX-Evil: 1"}  # ids no DELETE path can hold


class Elsewhere:
    """Another origin a source's redirect points to: keeps every request it gets, body and all."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        elsewhere = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _keep(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                elsewhere.requests.append((self.command, self.path, body))
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "13")
                self.end_headers()
                self.wfile.write(b'{"id": "h-x"}')

            def do_POST(self) -> None:
                self._keep()

            def do_DELETE(self) -> None:
                self._keep()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Erp:
    """The source: keeps hooks, answers 503 with HTML while ``down``, posts signed events."""

    def __init__(self) -> None:
        self.hooks: dict[str, dict[str, Any]] = {}
        self.created = 0
        self.down = False
        self.mode = (
            "ok"  # or echo, echo_auth, html, huge, slow, tricky, crlf, moved: how a new hook is answered
        )
        self.moved_to = ""  # in mode moved, where a POST (307) or DELETE (308) is redirected
        self.deleted: list[str] = []  # the paths DELETE asked for
        erp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _moved(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Location", f"{erp.moved_to}{self.path}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                hook = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if erp.down:
                    return self._answer(503, b"<html><body>Maintenance</body></html>", "text/html")
                if erp.mode == "moved":  # a 307 keeps the method and body: the secret, to elsewhere
                    return self._moved(307)
                if erp.mode == "echo":  # a refusal quoting the request, secret and all
                    return self._answer(400, json.dumps({"refused": hook}).encode())
                if erp.mode == "echo_auth":  # a refusal quoting the API token it was given
                    said = {"error": "token refused", "token": self.headers.get("Authorization")}
                    return self._answer(401, json.dumps(said).encode())
                if erp.mode == "html":
                    return self._answer(201, b"<html><body>Created!</body></html>", "text/html")
                if erp.mode == "huge":
                    return self._answer(201, b'{"id": "' + b"x" * 200_000 + b'"}')
                if erp.mode == "slow":
                    time.sleep(5)  # a duration, not an event: a source that must be slow
                hook["auth"] = self.headers.get("Authorization")
                erp.created += 1
                hook_id = TRICKY_IDS.get(erp.mode, f"h-{erp.created}")
                erp.hooks[hook_id] = hook
                return self._answer(201, json.dumps({"id": hook_id}).encode())

            def do_DELETE(self) -> None:
                erp.deleted.append(self.path)
                if erp.mode == "moved":
                    return self._moved(308)
                if erp.down:
                    return self._answer(503, b"<html>down</html>", "text/html")
                found = erp.hooks.pop(self.path.removeprefix("/hooks/"), None)
                return self._answer(204 if found else 404, b"")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def emit(self, order: dict[str, Any]) -> list[int]:
        """The order posted to every hook, signed with its secret; the daemon's answers."""
        body = json.dumps(order).encode()
        answers = []
        for hook in list(self.hooks.values()):
            digest = hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
            headers = {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}
            answers.append(requests.post(hook["url"], data=body, headers=headers, timeout=10).status_code)
        return answers

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def erp() -> Iterator[Erp]:
    source = Erp()
    yield source
    source.close()


@pytest.fixture
def elsewhere() -> Iterator[Elsewhere]:
    other = Elsewhere()
    yield other
    other.close()


@pytest.fixture
def host() -> Iterator[MessageHost]:
    with MessageHost(api_key=HOST_KEY) as running:
        yield running


def write_config(path: Path, port: int, host: str, subscription: str, store: Path) -> None:
    path.write_text(
        f'[server]\nworkers = 2\n[auth]\napi_keys = ["{API_KEY}"]\n[jobs]\nsqlite_path = "{store}"\n'
        '[discovery]\nenable_unlisted = false\n[connectors.sample.config]\ntoken = "sample-token"\n'
        f'[events]\nhost_url = "{host}"\nhost_api_key = "env:HOST_KEY"\n'
        f'public_url = "http://127.0.0.1:{port}/"\n{subscription}'
    )


def subscription(erp: Erp, events: str = "order.created") -> str:
    return (
        '[subscriptions.erp_orders]\ntrigger = "sample/erp_order"\nmessage = "erp/order_received"\n'
        f'settings = {{ erp_url = "{erp.url}", events = "{events}" }}\npayload = {{ order = "/id" }}\n'
    )


def registration(daemon: Daemon) -> dict[str, Any] | None:
    listed = requests.get(f"{daemon.url}/v1/subscriptions", headers=HEADERS, timeout=5).json()
    found = [s for s in listed["subscriptions"] if s["name"] == "erp_orders"]
    return found[0]["registration"] if found else None


def until(check: Callable[[], Any], seconds: float = 30) -> Any:
    return wait_until(check, seconds, "the condition")


def reload(daemon: Daemon) -> None:
    os.kill(daemon.process.pid, signal.SIGHUP)


def test_a_subscription_registers_itself_follows_changes_and_is_removed(
    tmp_path: Path, erp: Erp, host: MessageHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setattr(processes, "free_port", lambda: port)  # public_url must name the daemon's port
    path, store = tmp_path / "plugins.toml", tmp_path / "jobs.sqlite3"
    write_config(path, port, host.url, "", store)
    with Daemon(path, {"HOST_KEY": HOST_KEY}, tmp_path / "daemon.log") as daemon:
        assert registration(daemon) is None and erp.hooks == {}

        write_config(path, port, host.url, subscription(erp), store)  # added, then a reload
        reload(daemon)
        until(lambda: (registration(daemon) or {}).get("state") == "registered")
        [(first_id, hook)] = erp.hooks.items()
        assert hook["url"] == f"http://127.0.0.1:{port}/v1/inbound/sample/erp_order/erp_orders"
        assert len(hook["secret"]) >= 32  # generated: nobody typed it
        time.sleep(2)  # a duration, not an event: a window in which the other worker would register again
        assert erp.created == 1  # two workers, one registration

        assert erp.emit({"id": 7}) == [202]
        until(lambda: host.messages)
        assert host.messages[0].name == "erp:order_received" and host.messages[0].payload == {"order": 7}

        erp.down = True  # the source is down while the settings change: failing, retried
        write_config(path, port, host.url, subscription(erp, "order.paid"), store)
        reload(daemon)
        failing = until(lambda: (r := registration(daemon)) and r["state"] == "failing" and r)
        assert "ErpRefused: the ERP answered 503" in failing["last_error"]
        ready = requests.get(f"{daemon.url}/v1/readiness", headers=HEADERS, timeout=5).json()
        assert {"component": "subscription erp_orders", "state": "registration_failing"}.items() <= (
            ready["degraded"][0].items()
        )
        erp.down = False
        until(lambda: (registration(daemon) or {}).get("state") == "registered", 60)
        [(second_id, hook2)] = erp.hooks.items()  # the old one deleted, a new one made
        assert second_id != first_id and hook2["events"] == "order.paid" and hook2["secret"] != hook["secret"]
        assert erp.emit({"id": 8}) == [202]  # signed with the new secret
        until(lambda: len(host.messages) == 2)

        again = requests.post(
            f"{daemon.url}/v1/subscriptions/erp_orders/register", headers=HEADERS, timeout=5
        )
        assert again.status_code == 202
        until(lambda: erp.created == 3 and len(erp.hooks) == 1)
        unknown = requests.post(f"{daemon.url}/v1/subscriptions/nope/register", headers=HEADERS, timeout=5)
        assert (
            unknown.status_code == 404
            and unknown.json()["error"]["error_code"] == "SubscriptionNotRegistered"
        )

        write_config(path, port, host.url, "", store)  # removed: the hook is deleted
        reload(daemon)
        until(lambda: erp.hooks == {} and (registration(daemon) or {}).get("state") == "removed")
        metrics = requests.get(
            f"{daemon.url}/metrics", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5
        )
        assert "connector_proxy_subscription_registrations_total" in metrics.text
    assert "secret" not in (tmp_path / "daemon.log").read_text().lower().replace("generated_secret", "")


REDIS_URL = os.environ.get("CONNECTOR_PROXY_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def shared_redis() -> Iterator[str]:
    prefix = f"cp-registration-test-{uuid.uuid4().hex[:8]}"
    client = redis_or_skip(REDIS_URL)
    yield prefix
    for key in client.scan_iter(f"{prefix}:*"):  # only what this test made
        client.delete(key)


def test_two_daemons_sharing_redis_register_once_and_register_again_once(
    tmp_path: Path, erp: Erp, host: MessageHost, shared_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ports = [free_port(), free_port()]
    monkeypatch.setattr(processes, "free_port", lambda: ports.pop(0))
    path = tmp_path / "plugins.toml"
    write_config(path, ports[0], host.url, subscription(erp), tmp_path / "jobs.sqlite3")
    shared = f'backend = "celery"\nredis_url = "{REDIS_URL}"\nredis_prefix = "{shared_redis}"\n'
    path.write_text(path.read_text().replace("[jobs]\n", f"[jobs]\n{shared}"))
    with (
        Daemon(path, {"HOST_KEY": HOST_KEY}, tmp_path / "a.log") as one,
        Daemon(path, {"HOST_KEY": HOST_KEY}, tmp_path / "b.log") as other,
    ):
        until(lambda: (registration(other) or {}).get("state") == "registered")
        time.sleep(3)  # a duration, not an event: every worker of both has had turns to take the lease
        assert erp.created == 1 and len(erp.hooks) == 1
        assert registration(one) == registration(other)
        assert erp.emit({"id": 9}) == [202]  # sent to the first daemon, verified by the stored secret
        until(lambda: host.messages)

        # the settings change under both: torn down and set up again once, by the lease's holder
        path.write_text(path.read_text().replace('events = "order.created"', 'events = "order.paid"'))
        reload(one)
        reload(other)
        until(lambda: [hook["events"] for hook in erp.hooks.values()] == ["order.paid"])
        until(
            lambda: (
                (seen := registration(one)) == registration(other)
                and (seen or {}).get("state") == "registered"
            )
        )
        time.sleep(3)  # every new worker of both has had turns to take the lease and look
        assert erp.created == 2 and len(erp.deleted) == 1 and len(erp.hooks) == 1
        assert erp.emit({"id": 10}) == [202]  # verified by the secret of the new registration
        until(lambda: len(host.messages) == 2)


def http_subscription(erp: Erp) -> str:
    return (
        '[subscriptions.erp_orders]\ntrigger = "http/webhook"\nmessage = "erp/order_received"\n'
        f'settings = {{ register_url = "{erp.url}/hooks",'
        ' register_headers = { Authorization = "env:ERP_KEY" } }\n'
        'payload = { order = "/body/id" }\n'
    )


def test_the_http_webhook_registers_by_its_recipe_and_survives_a_hostile_source(
    tmp_path: Path, erp: Erp, elsewhere: Elsewhere, host: MessageHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setattr(processes, "free_port", lambda: port)
    path = tmp_path / "plugins.toml"
    write_config(path, port, host.url, http_subscription(erp), tmp_path / "jobs.sqlite3")
    http = "[connectors.http.config]\nmax_response_bytes = 4096\n[connectors.http.config.destinations]\n"
    text = path.read_text()
    path.write_text(text.replace("[events]\n", f"{http}allow_loopback = false\n[events]\npoll_timeout = 2\n"))
    environ = {"HOST_KEY": HOST_KEY, "ERP_KEY": "Bearer erp-api-key-123"}

    def failing_with(text: str) -> None:
        until(lambda: text in ((registration(daemon) or {}).get("last_error") or ""), 40)

    with Daemon(path, environ, tmp_path / "daemon.log") as daemon:
        failing_with("DestinationBlocked")  # the destination policy applies: loopback refused
        assert erp.created == 0
        erp.mode = "html"  # a 201 whose body holds no id
        path.write_text(path.read_text().replace("allow_loopback = false", "allow_loopback = true"))
        reload(daemon)
        failing_with("NoHookId")
        erp.mode = "echo"
        requests.post(f"{daemon.url}/v1/subscriptions/erp_orders/register", headers=HEADERS, timeout=5)
        failing_with("HttpError400")
        assert "[secret]" in (registration(daemon) or {})["last_error"]
        erp.mode = "echo_auth"  # the register_headers' token, a secret too, never shown
        requests.post(f"{daemon.url}/v1/subscriptions/erp_orders/register", headers=HEADERS, timeout=5)
        failing_with("token refused")
        assert "erp-api-key-123" not in (registration(daemon) or {})["last_error"]
        erp.mode = "huge"
        requests.post(f"{daemon.url}/v1/subscriptions/erp_orders/register", headers=HEADERS, timeout=5)
        failing_with("ResponseTooLarge")
        erp.mode = "slow"
        requests.post(f"{daemon.url}/v1/subscriptions/erp_orders/register", headers=HEADERS, timeout=5)
        failing_with("Timeout")
        erp.mode, erp.moved_to = (
            "moved",
            elsewhere.url,
        )  # a 307 elsewhere would carry the body, secret and all
        requests.post(f"{daemon.url}/v1/subscriptions/erp_orders/register", headers=HEADERS, timeout=5)
        failing_with(f"(a redirect to {elsewhere.url}, not followed)")
        assert "HttpError307" in (registration(daemon) or {})["last_error"]
        assert elsewhere.requests == []
        erp.mode = "ok"
        requests.post(f"{daemon.url}/v1/subscriptions/erp_orders/register", headers=HEADERS, timeout=5)
        until(lambda: (registration(daemon) or {}).get("state") == "registered", 40)
        [hook] = [h for h in erp.hooks.values() if h["url"].endswith("/erp_orders")]
        assert hook["url"] == f"http://127.0.0.1:{port}/v1/inbound/http/webhook/erp_orders"
        assert hook["auth"] == "Bearer erp-api-key-123"
        assert erp.emit({"id": 11})[-1] == 202  # signed with the generated secret, GitHub's way
        until(lambda: any(m.payload == {"order": 11} for m in host.messages))

        for mode in ("tricky", "crlf"):  # the next hook's id would walk (or split) the path of its delete
            erp.mode = mode
            requests.post(f"{daemon.url}/v1/subscriptions/erp_orders/register", headers=HEADERS, timeout=5)
            until(lambda: TRICKY_IDS[erp.mode] in erp.hooks)
            failing_with("cannot name the hook in a DELETE")  # refused, never recorded as registered
            assert "NoHookId" in (registration(daemon) or {})["last_error"]
        erp.mode = "ok"  # not stuck: nothing unusable was kept to tear down
        requests.post(f"{daemon.url}/v1/subscriptions/erp_orders/register", headers=HEADERS, timeout=5)
        until(lambda: (registration(daemon) or {}).get("state") == "registered", 40)
        erp.mode = "moved"  # the hook's DELETE (before a new one is made) redirected: not followed either
        requests.post(f"{daemon.url}/v1/subscriptions/erp_orders/register", headers=HEADERS, timeout=5)
        failing_with(f"(a redirect to {elsewhere.url}, not followed)")
        assert "HttpError308" in (registration(daemon) or {})["last_error"]
        assert elsewhere.requests == []
    assert all(p.startswith("/hooks/") and p.count("/") == 2 for p in erp.deleted), erp.deleted
    assert "erp-api-key-123" not in (tmp_path / "daemon.log").read_text()


def test_a_recorded_hook_id_no_delete_can_name_is_dropped_not_failing_for_ever(
    tmp_path: Path, erp: Erp, host: MessageHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setattr(processes, "free_port", lambda: port)
    path, store = tmp_path / "plugins.toml", tmp_path / "jobs.sqlite3"
    write_config(path, port, host.url, http_subscription(erp), store)
    http = "[connectors.http.config.destinations]\nallow_loopback = true\n"
    path.write_text(path.read_text().replace("[events]\n", f"{http}[events]\npoll_timeout = 2\n"))
    old = {"register_url": f"{erp.url}/hooks", "register_headers": {}, "register_id": "/id"}
    kept = SqliteEventStore(SqliteFile(store, SCHEMA), Sealer(()))  # kept before such ids were refused
    tricky = {"id": "../../admin"}
    kept.save_registration(
        Registration("erp_orders", "http/webhook", REGISTERED, settings=old, registration=tricky)
    )
    environ = {"HOST_KEY": HOST_KEY, "ERP_KEY": "Bearer erp-api-key-123"}
    with Daemon(path, environ, tmp_path / "daemon.log") as daemon:
        until(lambda: (registration(daemon) or {}).get("state") == "registered", 40)
        assert erp.created == 1 and erp.deleted == []  # dropped: no DELETE reached the source
    assert "its hook is left at the sender" in (tmp_path / "daemon.log").read_text()


def test_an_isolated_trigger_registers_over_the_protocol(
    tmp_path: Path, erp: Erp, host: MessageHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setattr(processes, "free_port", lambda: port)
    path, store = tmp_path / "plugins.toml", tmp_path / "jobs.sqlite3"
    isolated = f'[connectors.sample]\npython = "{sys.executable}"\nworkers = 1\n'
    write_config(path, port, host.url, subscription(erp), store)
    path.write_text(
        path.read_text().replace("[connectors.sample.config]", f"{isolated}[connectors.sample.config]")
    )
    with Daemon(path, {"HOST_KEY": HOST_KEY}, tmp_path / "daemon.log") as daemon:
        until(lambda: (registration(daemon) or {}).get("state") == "registered")
        [hook] = erp.hooks.values()
        assert len(hook["secret"]) >= 32
        assert erp.emit({"id": 21}) == [202]  # verified in the worker with the daemon's generated secret
        until(lambda: host.messages)

        path.write_text(path.read_text().replace(subscription(erp), ""))
        reload(daemon)
        until(lambda: erp.hooks == {} and (registration(daemon) or {}).get("state") == "removed")

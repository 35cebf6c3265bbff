"""The same connectors in-process and isolated answer the host identically (issue 14's promise).

Two real daemons, one running the sample and http connectors in-process, one
running them in worker processes (this interpreter, the same packages); every
call is sent to both and the status and envelope compared whole: success, a
declared error, an undeclared one, the SDK's outbound limits (DestinationBusy,
DestinationTimeout), a timeout the connector maps, a crash, a hand-off, and
a call refused by validation. A SpiffWorkflow package (``connector_example``)
is compared the same way: its own error codes, its v1 answers, its crash, its
``execute_async`` through the relay, and the old proxy's numeric strings.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connector_proxy.sdk.testing import SilentServer
from tests.support import SPIFF_SITE, TEST_CONFIG, TEST_ENV, Daemon

ISOLATED = f"""
[connectors.sample]
python = "{sys.executable}"
workers = 1

[connectors.http]
python = "{sys.executable}"
workers = 1

[connectors.example]
python = "{sys.executable}"
workers = 1
"""
PACKAGE_CONFIG = """
[oauth]
redirect_urls = ["http://127.0.0.1:7000/v1.0/"]

[connectors.example.config]
greeting = "hi"
provider_url = "http://127.0.0.1:9"
client_id = "example-client"
client_secret = "example-secret-0123456789"

[connectors.sample.typeahead]
colours = "sample.colours"
broken = "sample.broken"

[events]
host_url = "http://127.0.0.1:9/v1.0"  # nothing is delivered here: the answers to the senders are compared

[subscriptions.signups]
trigger = "sample/signup"
message = "signed_up"
settings = { secret = "signup-token-0123456789" }

[subscriptions.orders]
trigger = "http/webhook"
message = "order"
settings = { secret = "orders-secret-0123456789", timestamp_header = "X-Stamp" }
"""


@pytest.fixture(scope="module")
def silent() -> Iterator[str]:
    with SilentServer() as server:
        yield server.url


@pytest.fixture(scope="module")
def daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Daemon]]:
    folder = tmp_path_factory.mktemp("equivalence")
    started: dict[str, Daemon] = {}
    try:
        for mode, toml in (("in_process", TEST_CONFIG), ("isolated", ISOLATED + TEST_CONFIG)):
            (folder / mode).mkdir()
            config = folder / mode / "plugins.toml"
            provider = (
                'greeting = "Hello"\nprovider_url = "http://127.0.0.1:9"\nclient_id = "sample-client"\n'
            )
            config.write_text(toml.replace('greeting = "Hello"\n', provider) + PACKAGE_CONFIG)
            started[mode] = Daemon(config, TEST_ENV, folder / mode / "daemon.log", site=(SPIFF_SITE,))
            started[mode].__enter__()
        yield started
    finally:
        for daemon in started.values():
            daemon.stop()


def test_the_two_daemons_run_the_connectors_in_their_modes(daemons: dict[str, Daemon]) -> None:
    for mode, daemon in daemons.items():
        shown = requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()
        listed = {c["name"]: c for c in shown if c["state"] != "duplicate"}  # SpiffWorkflow's connector_http
        assert listed["sample"]["state"] == listed["http"]["state"] == listed["example"]["state"] == "ready"
        assert listed["sample"]["mode"] == listed["http"]["mode"] == listed["example"]["mode"] == mode
        assert listed["example"]["interface"] == "spiffworkflow"


CASES: list[tuple[str, str, dict[str, Any], int, str | None]] = [
    # (case, command, parameters, the proxy's status, error_code)
    ("success", "sample/Greet", {"name": "Ada", "times": 2}, 200, None),
    ("declared error", "sample/Greet", {"name": "Mallory"}, 200, "NotWelcome"),
    ("undeclared error", "sample/Forgetful", {}, 200, "Undeclared"),
    ("destination busy", "sample/Crowd", {"url": "{silent}", "stuck_after": 0}, 200, "DestinationBusy"),
    ("line timeout", "sample/Crowd", {"url": "{silent}", "stuck_after": 60}, 200, "DestinationTimeout"),
    (
        "upstream timeout",
        "http/GetRequest",
        {"url": "{silent}/x", "timeout": 0.3, "attempts": 1},
        200,
        "Timeout",
    ),
    ("crash", "sample/Crash", {}, 500, "CommandCrashed"),
    ("hand-off", "sample/HandOff", {"spiff__callback_url": "http://127.0.0.1:9/cb"}, 202, None),
    ("invalid parameters", "sample/Greet", {"name": 7}, 400, "InvalidParameters"),
    ("package success", "example/CombineStrings", {"arg1": "a", "arg2": "b", "times": "2"}, 200, None),
    ("package v1 text", "example/RawText", {"text": "plain"}, 200, None),
    ("package error", "example/ReportedError", {"reason": "busy"}, 200, "RecordLocked"),
    ("package status", "example/NotThere", {}, 200, "HttpError404"),
    ("package nonsense", "example/Nonsense", {}, 200, "PackageAnswerInvalid"),
    ("package crash", "example/Explode", {}, 500, "CommandCrashed"),
    (
        "package hand-off",
        "example/NotifyLater",
        {"message": "m", "spiff__callback_url": "http://127.0.0.1:9/cb"},
        202,
        None,
    ),
    (
        "package bad call",
        "example/CombineStrings",
        {"arg1": "a", "arg2": "b", "times": 2.5},
        400,
        "InvalidParameters",
    ),
]


@pytest.mark.parametrize(
    ("command", "parameters", "status", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_an_isolated_command_answers_exactly_as_in_process(
    daemons: dict[str, Daemon],
    silent: str,
    command: str,
    parameters: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    payload = {k: v.format(silent=silent) if isinstance(v, str) else v for k, v in parameters.items()}
    answers = {}
    for mode, daemon in daemons.items():
        response = requests.post(f"{daemon.url}/v1/do/{command}", json=payload, timeout=30)
        answers[mode] = (response.status_code, response.json())
    assert answers["isolated"] == answers["in_process"]
    got_status, envelope = answers["in_process"]
    assert got_status == status, envelope
    assert (envelope["error"] or {}).get("error_code") == code, envelope


def test_the_one_known_difference_an_answer_too_deep_to_write(daemons: dict[str, Daemon]) -> None:
    """In-process the daemon fails to write it (UnrenderableAnswer); isolated, the worker fails to send it."""
    codes = {}
    for mode, daemon in daemons.items():
        response = requests.post(f"{daemon.url}/v1/do/sample/Nested", json={"depth": 100_000}, timeout=30)
        codes[mode] = (response.status_code, response.json()["error"]["error_code"])
    assert codes == {"in_process": (500, "UnrenderableAnswer"), "isolated": (200, "WorkerCrashed")}


TYPEAHEAD_CASES = [
    # (case, path and query, the proxy's status)
    ("suggestions", "sample.colours?prefix=b", 200),
    ("the limit", "sample/colours?prefix=b&limit=2", 200),
    ("none match", "sample.colours?prefix=zz", 200),
    ("a crash", "sample.broken?prefix=a", 500),
    ("a bad limit", "sample.colours?limit=0", 400),
    ("not opened", "sample.asked?prefix=a", 404),
]


@pytest.mark.parametrize(
    ("query", "status"), [c[1:] for c in TYPEAHEAD_CASES], ids=[c[0] for c in TYPEAHEAD_CASES]
)
def test_an_isolated_typeahead_answers_exactly_as_in_process(
    daemons: dict[str, Daemon], query: str, status: int
) -> None:
    answers = {}
    for mode, daemon in daemons.items():
        response = requests.get(f"{daemon.url}/v1/typeahead/{query}", timeout=30)
        answers[mode] = (response.status_code, response.json())
    assert answers["isolated"] == answers["in_process"]
    assert answers["in_process"][0] == status, answers


def _signed(body: bytes, stamp: str, secret: str = "orders-secret-0123456789") -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-Stamp": stamp, "Content-Type": "application/json"}


ORDER = b'{"id": 7}'
TOKEN = {"X-Webhook-Token": "signup-token-0123456789", "Content-Type": "application/json"}
WEBHOOK_CASES = [
    # (case, subscription path, body, headers, the proxy's status)
    ("signed", "http/webhook/orders", ORDER, "signed", 202),
    ("forged", "http/webhook/orders", ORDER, "forged", 401),
    ("stale", "http/webhook/orders", ORDER, "stale", 401),
    ("token", "sample/signup/signups", b'{"email": "ada@example.com"}', TOKEN, 202),
    ("wrong token", "sample/signup/signups", b'{"email": "ada@example.com"}', {"X-Webhook-Token": "no"}, 401),
    ("off the payload schema", "sample/signup/signups", b'{"plan": "gold"}', TOKEN, 400),
    ("a trigger that raises", "sample/signup/signups", b'{"email": "crash@example.com"}', TOKEN, 500),
    ("a trigger that returns nothing", "sample/signup/signups", b'{"email": "none@example.com"}', TOKEN, 500),
]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"), [c[1:] for c in WEBHOOK_CASES], ids=[c[0] for c in WEBHOOK_CASES]
)
def test_an_isolated_webhook_answers_exactly_as_in_process(
    daemons: dict[str, Daemon], path: str, body: bytes, headers: Any, status: int
) -> None:
    """Verification and event extraction run in the worker; the answers to the sender are the same."""
    now = str(int(time.time()))
    signatures = {
        "signed": _signed(body, now),
        "forged": _signed(body, now, secret="not-the-secret-0123456789"),
        "stale": _signed(body, str(int(time.time()) - 3600)),
    }
    chosen: dict[str, str] = signatures[headers] if isinstance(headers, str) else headers
    answers = {}
    for mode, daemon in daemons.items():
        response = requests.post(f"{daemon.url}/v1/inbound/{path}", data=body, headers=chosen, timeout=30)
        answers[mode] = (response.status_code, response.json())
    assert answers["isolated"] == answers["in_process"]
    assert answers["in_process"][0] == status, answers


def test_isolated_sign_ins_are_listed_and_started_exactly_as_in_process(daemons: dict[str, Daemon]) -> None:
    """An isolated worker declares its auths (a SpiffWorkflow package's too, from its configuration) once
    set up; the daemon lists them and runs the browser's sign-in with them."""
    listed, started = {}, {}
    for mode, daemon in daemons.items():
        listed[mode] = requests.get(f"{daemon.url}/v1/auths", timeout=10).json()
        for auth in ("sample/Provider", "example/OAuth", "sample/Machine"):
            answer = requests.get(
                f"{daemon.url}/v1/auth/{auth}?redirect_url=http://127.0.0.1:7000/v1.0/back",
                allow_redirects=False,
                timeout=10,
            )
            parts = urlsplit(answer.headers.get("Location", ""))
            query = {k: v for k, v in parse_qs(parts.query).items() if k not in ("state", "code_challenge")}
            query["redirect_uri"] = [
                uri.replace(daemon.url, "<daemon>") for uri in query.get("redirect_uri", [])
            ]
            started[(mode, auth)] = (
                answer.status_code,
                f"{parts.scheme}://{parts.netloc}{parts.path}",
                query,
            )

    assert listed["isolated"] == listed["in_process"]
    assert {entry["id"] for entry in listed["in_process"]} == {"sample/Provider", "example/OAuth"}
    for auth in ("sample/Provider", "example/OAuth", "sample/Machine"):
        assert started[("isolated", auth)] == started[("in_process", auth)], auth
    assert started[("in_process", "sample/Provider")][:2] == (302, "http://127.0.0.1:9/authorize")
    assert started[("in_process", "sample/Machine")][0] == 403  # a machine's token never leaves

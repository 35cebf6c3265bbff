"""The same connectors in-process and isolated answer the host identically (issue 14's promise).

Two real daemons, one running the sample and http connectors in-process, one
running them in worker processes of **another virtual environment** (made
here: the connectors and their libraries are installed there, and the
isolated daemon's own environment has none of them, so everything it knows
of them crossed the protocol). Every call is sent to both and the status and
answer compared whole: commands (success, a declared error, an undeclared one,
the SDK's outbound limits, a timeout the connector maps, a crash, a hand-off, a
call refused by validation), typeahead, webhooks, a poller's events at each
daemon's host, sign-ins (started, and exchanged with a real provider), token
refresh by a command, and live checks. A
SpiffWorkflow package (``connector_example``) is compared the same way: its own
error codes, its v1 answers, its crash, its ``execute_async`` through the
relay, the old proxy's numeric strings, its sign-in.

The JavaScript example (``examples/node-connector``) is compared with its twin
written with the SDK (``tests/fixtures/twin_site/textkit_twin.py``), in-process:
commands, typeahead, a webhook, a poller's events at the host, a sign-in and a
live check answer alike, so the protocol is shown to be language-neutral.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connector_proxy.sdk.testing import SilentServer
from connector_proxy.testing import MessageHost, ServiceTaskHost
from tests.oauth_provider import OAuthProvider
from tests.support import (
    ROOT,
    SITE,
    SPIFF_SITE,
    TEST_CONFIG,
    TEST_ENV,
    Daemon,
    copy_installed,
    environment,
    modules_of,
    polled_again,
    wheel,
)

ISOLATED = """
[connectors.sample]
python = "{python}"
workers = 1

[connectors.http]
python = "{python}"
workers = 1

[connectors.example]
python = "{python}"
workers = 1
"""
# what the connectors import beyond the SDK, copied from this environment as installed
LIBRARIES = ("requests", "urllib3", "idna", "charset-normalizer", "certifi", "xmltodict")
TWIN_SITE = ROOT / "tests" / "fixtures" / "twin_site"
PACKAGE_CONFIG = """
[oauth]
redirect_urls = ["http://127.0.0.1:7000/v1.0/"]

[connectors.example.config]
greeting = "hi"
provider_url = "{provider}"
client_id = "proxy-client"
client_secret = "env:PROVIDER_SECRET"

[connectors.sample.typeahead]
colours = "sample.colours"
broken = "sample.broken"
crowded = "sample.crowded"

[events]
host_url = "{host}"

[subscriptions.ticks]
trigger = "sample/ticks"
message = "tick"
interval = 0.2
settings = {{ count = 5, acknowledged = "{acknowledged}" }}
payload = {{ n = "/n", pid = "/pid" }}

[subscriptions.signups]
trigger = "sample/signup"
message = "signed_up"
settings = {{ secret = "signup-token-0123456789" }}

[subscriptions.orders]
trigger = "http/webhook"
message = "order"
settings = {{ secret = "orders-secret-0123456789", timestamp_header = "X-Stamp" }}
"""


@pytest.fixture(scope="module")
def silent() -> Iterator[str]:
    with SilentServer() as server:
        yield server.url


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another virtual environment holding the sample, http and example connectors: its python."""
    folder = tmp_path_factory.mktemp("elsewhere")
    points = (SITE / "sample_connectors-0.1.0.dist-info" / "entry_points.txt").read_text()
    http = "[connector_proxy.connectors]\nhttp = connector_proxy_http:connector\n"
    wheels = [
        wheel(folder, "sample_connectors", "0.1.0", modules_of(SITE, "sample_connectors"), points),
        wheel(
            folder,
            "connector_proxy_http",
            "0.1.0",
            modules_of(ROOT / "connectors" / "http", "connector_proxy_http"),
            http,
        ),
        wheel(
            folder,
            "connector_example",
            "0.1.0",
            modules_of(SPIFF_SITE, "connector_example", "spiffworkflow_connector_command"),
        ),
    ]
    python = environment(folder / "venv", wheels)
    copy_installed(next((folder / "venv").glob("lib/python3*/site-packages")), LIBRARIES)
    return python


@pytest.fixture(scope="module")
def steer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file the sample connector's live check reads its answer from, in both daemons."""
    return tmp_path_factory.mktemp("steer") / "check.txt"


@pytest.fixture(scope="module")
def provider() -> Iterator[OAuthProvider]:
    """A real OAuth provider both daemons' sign-ins and token refreshes go to."""
    running = OAuthProvider([])
    yield running
    running.close()


@pytest.fixture(scope="module")
def hosts() -> Iterator[dict[str, MessageHost]]:
    """Each daemon's SpiffWorkflow host, where its events' messages arrive."""
    with MessageHost() as in_process, MessageHost() as isolated:
        yield {"in_process": in_process, "isolated": isolated}


@pytest.fixture(scope="module")
def daemons(
    tmp_path_factory: pytest.TempPathFactory,
    elsewhere: Path,
    steer: Path,
    provider: OAuthProvider,
    hosts: dict[str, MessageHost],
) -> Iterator[dict[str, Daemon]]:
    folder = tmp_path_factory.mktemp("equivalence")
    started: dict[str, Daemon] = {}
    environ = {**TEST_ENV, "SAMPLE_CHECK_FILE": str(steer), "PROVIDER_SECRET": provider.client.client_secret}
    isolated = ISOLATED.format(python=elsewhere)
    signing = (
        f'greeting = "Hello"\nprovider_url = "{provider.url}"\nclient_id = "proxy-client"\n'
        'client_secret = "env:PROVIDER_SECRET"\n'
    )
    try:
        for mode, toml in (("in_process", TEST_CONFIG), ("isolated", isolated + TEST_CONFIG)):
            (folder / mode).mkdir()
            config = folder / mode / "plugins.toml"
            acknowledged = folder / mode / "acknowledged.txt"
            packages = PACKAGE_CONFIG.format(
                provider=provider.url, host=hosts[mode].url, acknowledged=acknowledged
            )
            config.write_text(toml.replace('greeting = "Hello"\n', signing) + packages)
            log = folder / mode / "daemon.log"
            if mode == "in_process":
                started[mode] = Daemon(config, environ, log, site=(SPIFF_SITE,))
            else:  # none of the connectors is in this daemon's environment: only in the workers'
                started[mode] = Daemon(config, environ, log, samples=False)
            started[mode].__enter__()
            for auth in ("sample/Provider", "example/OAuth"):
                provider.client.redirect_uris.append(f"{started[mode].url}/v1/auth/{auth}/callback")
        yield started
    finally:
        for daemon in started.values():
            daemon.stop()


def test_the_two_daemons_run_the_connectors_in_their_modes(
    daemons: dict[str, Daemon], elsewhere: Path
) -> None:
    for mode, daemon in daemons.items():
        shown = requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()
        listed = {c["name"]: c for c in shown if c["state"] != "duplicate"}  # SpiffWorkflow's connector_http
        assert listed["sample"]["state"] == listed["http"]["state"] == listed["example"]["state"] == "ready"
        assert listed["sample"]["mode"] == listed["http"]["mode"] == listed["example"]["mode"] == mode
        assert listed["example"]["interface"] == "spiffworkflow"
        assert listed["sample"]["live_check"].startswith("Ask whether the configured token is accepted")
        assert listed["example"]["live_check"] is None
    isolated = {
        c["name"]: c for c in requests.get(f"{daemons['isolated'].url}/v1/connectors", timeout=5).json()
    }
    assert {isolated[name]["runs"][0] for name in ("sample", "http", "example")} == {str(elsewhere)}
    assert "broken" not in isolated  # the sample site's other entry points are not in this environment


CASES: list[tuple[str, str, dict[str, Any], int, str | None]] = [
    # (case, command, parameters, the proxy's status, error_code)
    ("success", "sample/Greet", {"name": "Ada", "times": 2}, 200, None),
    ("declared error", "sample/Greet", {"name": "Mallory"}, 200, "NotWelcome"),
    ("deprecated", "sample/Salute", {"name": "Ada"}, 200, None),  # its warning in spiff__logs alike
    ("undeclared error", "sample/Forgetful", {}, 200, "Undeclared"),
    ("destination busy", "sample/Crowd", {"url": "{silent}", "stuck_after": 0}, 200, "DestinationBusy"),
    ("line timeout", "sample/Crowd", {"url": "{silent}", "stuck_after": 60}, 200, "DestinationTimeout"),
    (
        "upstream timeout",
        "http/GetRequestV2",
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


TASK_DATA_CASES = [
    # (case, command, the body, the proxy's status, error_code, words of the message)
    ("read", "sample/Context", b'{"spiff__task_data": {"rows": [{"id": 1}], "b": 2.5}}', 200, None, ""),
    (
        "a key twice, read",
        "sample/Context",
        b'{"spiff__task_data": {"a": 1, "a": 2}}',
        400,
        "InvalidRequestBody",
        "spiff__task_data: The body names the key 'a' twice",
    ),
    (
        "a huge number, read",
        "sample/Context",
        b'{"spiff__task_data": {"a": 1e400}}',
        400,
        "InvalidRequestBody",
        "spiff__task_data: The body holds the number 1e400",
    ),
    (
        "a key twice, echoed unread",
        "sample/TaskData",
        b'{"spiff__task_data": {"a": 1, "a": 2}}',
        400,
        "InvalidRequestBody",
        "spiff__task_data: The body names the key 'a' twice",
    ),
    ("echoed", "sample/TaskData", b'{"spiff__task_data": {"a": [1, 2.5], "b": "\xc3\xa9"}}', 200, None, ""),
    (
        "a key twice, a package",
        "example/CombineStrings",
        b'{"arg1": "a", "arg2": "b", "spiff__task_data": {"a": 1, "a": 2}}',
        400,
        "InvalidRequestBody",
        "twice",
    ),
    (
        "NaN, on arrival",
        "sample/Greet",
        b'{"name": "Ada", "spiff__task_data": {"a": NaN}}',
        400,
        "InvalidRequestBody",
        "NaN",
    ),
]


def post_raw(daemon: Daemon, command: str, body: bytes) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    response = requests.post(f"{daemon.url}/v1/do/{command}", data=body, headers=headers, timeout=30)
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("command", "body", "status", "code", "words"),
    [c[1:] for c in TASK_DATA_CASES],
    ids=[c[0] for c in TASK_DATA_CASES],
)
def test_task_data_is_read_alike_in_both_modes(
    daemons: dict[str, Daemon], command: str, body: bytes, status: int, code: str | None, words: str
) -> None:
    """Task data is carried unread; what only reading it finds refuses a call that reads it, in-process and
    isolated, as it would have on arrival."""
    answers = {mode: post_raw(daemon, command, body) for mode, daemon in daemons.items()}
    for got_status, envelope in answers.values():
        assert (got_status, (envelope["error"] or {}).get("error_code")) == (status, code), envelope
        assert words in (envelope["error"] or {}).get("message", "")
        if status == 200:
            echoed = envelope["command_response"]["body"]
            assert echoed.get("task_data", echoed) == json.loads(body)["spiff__task_data"]
    assert answers["isolated"][1]["error"] == answers["in_process"][1]["error"]


def test_the_second_known_difference_an_isolated_worker_is_handed_task_data_read(
    daemons: dict[str, Daemon],
) -> None:
    """In-process, a key twice in task data no command reads is never looked for; an isolated worker (in
    any language) is handed the task data read strictly, so the call is refused before it is sent."""
    body = b'{"name": "Ada", "spiff__task_data": {"a": 1, "a": 2}}'
    answers = {mode: post_raw(daemon, "sample/Greet", body) for mode, daemon in daemons.items()}
    assert answers["in_process"][0] == 200
    assert answers["isolated"][0] == 400
    assert answers["isolated"][1]["error"]["error_code"] == "InvalidRequestBody"


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
    ("destination busy", "sample.crowded?prefix={silent}/x", 503),
    ("a bad limit", "sample.colours?limit=0", 400),
    ("not opened", "sample.asked?prefix=a", 404),
]


@pytest.mark.parametrize(
    ("query", "status"), [c[1:] for c in TYPEAHEAD_CASES], ids=[c[0] for c in TYPEAHEAD_CASES]
)
def test_an_isolated_typeahead_answers_exactly_as_in_process(
    daemons: dict[str, Daemon], silent: str, query: str, status: int
) -> None:
    answers = {}
    for mode, daemon in daemons.items():
        response = requests.get(f"{daemon.url}/v1/typeahead/{query.format(silent=silent)}", timeout=30)
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
        answers[mode] = (response.status_code, _seconds_elided(response.json()))
    assert answers["isolated"] == answers["in_process"]
    assert answers["in_process"][0] == status, answers


def _seconds_elided(answer: Any) -> Any:
    """A stale stamp's age is counted when each daemon answers: the two may be a second apart."""
    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
        return {**answer, "error": re.sub(r"is \d+ s from now", "is N s from now", answer["error"])}
    return answer


def test_isolated_sign_ins_are_listed_and_started_exactly_as_in_process(
    daemons: dict[str, Daemon], provider: OAuthProvider
) -> None:
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
    assert started[("in_process", "sample/Provider")][:2] == (302, f"{provider.url}/authorize")
    assert started[("in_process", "sample/Machine")][0] == 403  # a machine's token never leaves


def test_an_isolated_poller_delivers_what_it_does_in_process(
    daemons: dict[str, Daemon], hosts: dict[str, MessageHost]
) -> None:
    """The poll and its acknowledgement run in the worker; the events reach the host once each."""
    delivered, acknowledged = {}, {}
    for mode, daemon in daemons.items():
        log = daemon.log.parent / "acknowledged.txt"
        deadline = time.monotonic() + 15
        while len(log.read_text().splitlines() if log.exists() else []) < 5:
            assert time.monotonic() < deadline, f"{mode}: the poller's events were not all acknowledged"
            time.sleep(0.05)
        polled_again(daemon.url, "ticks")  # two more polls: nothing new, nothing repeated
        delivered[mode] = sorted(m.payload["n"] for m in hosts[mode].messages if m.name == "tick")
        acknowledged[mode] = {line.split()[0]: int(line.split()[1]) for line in log.read_text().splitlines()}
    assert delivered["isolated"] == delivered["in_process"] == [0, 1, 2, 3, 4]
    assert (
        sorted(acknowledged["isolated"])
        == sorted(acknowledged["in_process"])
        == [f"tick-{n}" for n in range(5)]
    )
    isolated = daemons["isolated"]
    assert not set(acknowledged["isolated"].values()) & {isolated.process.pid, *isolated.worker_pids()}


HOST = "http://127.0.0.1:7000/v1.0/back"


def _signed_in(daemon: Daemon, auth: str) -> dict[str, Any]:
    """The browser's whole sign-in through the daemon and the provider: the token set the host gets."""
    browser = requests.Session()
    started = browser.get(
        f"{daemon.url}/v1/auth/{auth}?redirect_url={HOST}", allow_redirects=False, timeout=10
    )
    consent = requests.get(started.headers["Location"], allow_redirects=False, timeout=10)
    back = browser.get(consent.headers["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    tokens: dict[str, Any] = json.loads(parse_qs(urlsplit(back.headers["Location"]).query)["response"][0])
    return tokens


def _shape(value: Any) -> Any:
    """A token-bearing answer with the values that differ per sign-in (tokens, times) as their types."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return (
        type(value).__name__
        if isinstance(value, (str, int, float)) and not isinstance(value, bool)
        else value
    )


def test_an_isolated_sign_in_exchange_and_token_refresh_answer_as_in_process(
    daemons: dict[str, Daemon], provider: OAuthProvider
) -> None:
    """The exchange runs in the daemon with the worker's declaration; a command that renews a token set
    in a worker reports it across the protocol, and the host gets the same refreshed-token answer."""
    exchanged, renewed, kept = {}, {}, {}
    for mode, daemon in daemons.items():
        legacy = _signed_in(daemon, "example/OAuth")
        tokens = _signed_in(daemon, "sample/Provider")
        expired = {**tokens, "expires_at": int(time.time()) - 10}
        answer = requests.post(
            f"{daemon.url}/v1/do/sample/WhoAmI", json={"token_set": expired, "secret": "crm"}, timeout=30
        )
        exchanged[mode] = (_shape(legacy), _shape(tokens))
        renewed[mode] = (answer.status_code, _shape(answer.json()))
        assert answer.json()["auth"] == "crm"
        assert answer.json()["api_response"]["body"]["sub"] == "alice"
        assert answer.json()["refreshed_token_set"]["access_token"] != tokens["access_token"]
        assert provider.tokens[tokens["access_token"]].revoked  # rotated at the provider by this daemon
        kept[mode] = _kept_after_a_failure(daemon, provider)
    assert exchanged["isolated"] == exchanged["in_process"]
    assert renewed["isolated"] == renewed["in_process"]
    assert kept["isolated"] == kept["in_process"] == ("ServiceTaskHttpError401", "completed", 0)


def _kept_after_a_failure(daemon: Daemon, provider: OAuthProvider) -> tuple[Any, ...]:
    """A set renewed in a call the upstream then refused is handed to the next call with the old set."""
    held = {**_signed_in(daemon, "sample/Provider"), "expires_at": int(time.time()) - 10}
    host = ServiceTaskHost()
    provider.userinfo_refuses = True
    try:
        failed = host.call(daemon.url, "sample/WhoAmI", {"token_set": held, "secret": "crm"})
    finally:
        provider.userinfo_refuses = False
    grants = len(provider.token_requests)
    again = host.call(daemon.url, "sample/WhoAmI", {"token_set": held, "secret": "crm"})
    return failed.error_code, again.state, len(provider.token_requests) - grants


CHECK_CASES = [
    # (case, connector, what the sample's check is steered to, the state)
    ("ok", "sample", "ok", "ok"),
    ("failed", "sample", "fail", "failed"),
    ("a check that raises", "sample", "crash", "failed"),
    ("not offered", "example", "ok", "not_offered"),
    ("nothing named to try", "http", "ok", "ok"),
]


@pytest.mark.parametrize(
    ("connector", "steered", "state"), [c[1:] for c in CHECK_CASES], ids=[c[0] for c in CHECK_CASES]
)
def test_an_isolated_live_check_answers_exactly_as_in_process(
    daemons: dict[str, Daemon], steer: Path, connector: str, steered: str, state: str
) -> None:
    steer.write_text(steered)
    answers = {}
    for mode, daemon in daemons.items():
        response = requests.post(f"{daemon.url}/v1/connectors/{connector}/check", timeout=30)
        answer = response.json()
        answers[mode] = (response.status_code, {k: v for k, v in answer.items() if k != "seconds"})
    assert answers["isolated"] == answers["in_process"]
    assert (
        answers["in_process"] == (200, answers["in_process"][1])
        and answers["in_process"][1]["state"] == state
    )
    assert TEST_ENV["SAMPLE_TOKEN"] not in str(answers)  # the crash's text holds it: the log only
    unknown = requests.post(f"{daemons['isolated'].url}/v1/connectors/nobody/check", timeout=5)
    assert (unknown.status_code, unknown.json()["error"]["error_code"]) == (404, "ConnectorNotFound")


TEXTKIT = """
[server]
workers = 1
[connectors.textkit.config]
prefix = "bpmn-"
provider_url = "http://127.0.0.1:9"
client_id = "textkit-client"
[connectors.textkit.typeahead]
languages = "textkit.languages"
[oauth]
redirect_urls = ["http://127.0.0.1:7000/v1.0/"]
[events]
host_url = "{host}"
[subscriptions.notes]
trigger = "textkit/note_posted"
message = "note"
settings = {{ secret = "notes-token-0123456789" }}
[subscriptions.numbers]
trigger = "textkit/counted"
message = "number"
interval = 0.2
settings = {{ count = 5 }}
payload = {{ n = "/n" }}
"""
NODE = """
[connectors.textkit]
program = ["node", "examples/node-connector/connector.js", "textkit"]
workers = 1
"""


@pytest.fixture(scope="module")
def textkits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Daemon, MessageHost]]]:
    """The JavaScript example isolated, and its twin written with the SDK in-process; each with a host."""
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed")
    folder = tmp_path_factory.mktemp("textkit")
    started: dict[str, tuple[Daemon, MessageHost]] = {}
    try:
        for language in ("python", "javascript"):
            (folder / language).mkdir()  # each its own job and event stores, beside its plugins.toml
            if language == "javascript":  # programs start in plugins.toml's directory
                shutil.copytree(ROOT / "examples", folder / language / "examples")
            host = MessageHost().__enter__()
            config = folder / language / "plugins.toml"
            config.write_text((NODE if language == "javascript" else "") + TEXTKIT.format(host=host.url))
            log = folder / language / "daemon.log"
            site = (TWIN_SITE,) if language == "python" else ()
            started[language] = (Daemon(config, {}, log, site=site, samples=False).__enter__(), host)
        yield started
    finally:
        for daemon, host in started.values():
            daemon.stop()
            host.__exit__(None, None, None)


TEXTKIT_CASES = [
    # (case, method, path, JSON body, headers)
    ("catalog", "GET", "/v1/commands", None, {}),
    ("a slug", "POST", "/v1/do/textkit/Slugify", {"text": "Hello, BPMN world"}, {}),
    ("a separator", "POST", "/v1/do/textkit/Slugify", {"text": "a b", "separator": "_"}, {}),
    ("nothing left", "POST", "/v1/do/textkit/Slugify", {"text": "!!!"}, {}),
    ("a count", "POST", "/v1/do/textkit/WordCount", {"text": "one two  three"}, {}),
    ("a bad call", "POST", "/v1/do/textkit/WordCount", {"words": 3}, {}),
    ("suggestions", "GET", "/v1/typeahead/textkit.languages?prefix=j&limit=5", None, {}),
    (
        "a note",
        "POST",
        "/v1/inbound/textkit/note_posted",
        {"id": 12, "text": "hi"},
        {"X-Webhook-Token": "notes-token-0123456789"},
    ),
    ("a forged note", "POST", "/v1/inbound/textkit/note_posted", {"id": 13}, {"X-Webhook-Token": "no"}),
    ("sign-ins", "GET", "/v1/auths", None, {}),
    ("a live check", "POST", "/v1/connectors/textkit/check", None, {}),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"), [c[1:] for c in TEXTKIT_CASES], ids=[c[0] for c in TEXTKIT_CASES]
)
def test_the_javascript_example_answers_as_its_twin_written_with_the_sdk(
    textkits: dict[str, tuple[Daemon, MessageHost]],
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
) -> None:
    answers = {}
    for language, (daemon, _host) in textkits.items():
        response = requests.request(method, f"{daemon.url}{path}", json=body, headers=headers, timeout=30)
        answer = response.json()
        if isinstance(answer, list) and path == "/v1/commands":  # the built-in connectors are in both
            answer = [_without_worker_errors(entry) for entry in answer if entry["id"].startswith("textkit/")]
        if isinstance(answer, dict):
            answer.pop("seconds", None)
            for event in answer.get("events", []):
                event.pop("id", None)  # the store's own numbering
        answers[language] = (response.status_code, answer)
    assert answers["javascript"] == answers["python"]
    assert answers["python"][0] < 500, answers


def _without_worker_errors(entry: dict[str, Any]) -> dict[str, Any]:
    """A catalog entry less the codes only an isolated command declares (WorkerCrashed...)."""
    errors = [e for e in entry["errors"] if not e["error_code"].startswith("Worker")]
    return {**entry, "errors": errors}


def test_the_javascript_examples_poller_and_sign_in_work_as_its_twins(
    textkits: dict[str, tuple[Daemon, MessageHost]],
) -> None:
    delivered, redirected = {}, {}
    for language, (daemon, host) in textkits.items():
        deadline = time.monotonic() + 10
        while len(numbers := [m.payload["n"] for m in host.messages if m.name == "number"]) < 5:
            assert time.monotonic() < deadline, f"{language}: only {numbers} reached the host"
            time.sleep(0.05)
        polled_again(daemon.url, "numbers")  # two more polls: nothing new, nothing repeated
        delivered[language] = sorted(m.payload["n"] for m in host.messages if m.name == "number")
        answer = requests.get(
            f"{daemon.url}/v1/auth/textkit/provider?redirect_url=http://127.0.0.1:7000/v1.0/back",
            allow_redirects=False,
            timeout=10,
        )
        parts = urlsplit(answer.headers["Location"])
        query = {
            k: v
            for k, v in parse_qs(parts.query).items()
            if k not in ("state", "code_challenge", "redirect_uri")
        }
        redirected[language] = (answer.status_code, parts.path, query)
    assert delivered["javascript"] == delivered["python"] == [0, 1, 2, 3, 4]
    assert redirected["javascript"] == redirected["python"]
    assert redirected["python"][:2] == (302, "/authorize")

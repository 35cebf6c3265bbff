"""Isolated connectors through the real daemon: conflicting SDKs side by side, bad workers, another language.

The two environments are real virtual environments made by the tests, each
holding its own version of one library, installed from wheels the tests
build (no network). connector_proxy's SDK, which needs only the standard
library, is made importable there with a .pth file, as a pip install would.
"""

from __future__ import annotations

import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.support import TEST_ENV, Daemon, environment, wait_until, wheel

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "fixtures"

FLAVOUR = 'VERSION = "{version}"\n\n\ndef taste() -> str:\n    return "{taste}"\n'
SHOP = '''
import flavour

from connector_proxy.sdk import Connector, Context

connector = Connector("{name}", description="Serves what flavour {name} has.")


@connector.command("Taste")
def taste(ctx: Context) -> dict:
    """Say which flavour library this process has."""
    return {{"flavour": flavour.VERSION, "taste": flavour.taste(), "file": flavour.__file__}}
'''


@pytest.fixture(scope="module")
def shops(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two environments: flavour 1.0 with the vanilla shop, flavour 2.0 with the chocolate shop."""
    folder = tmp_path_factory.mktemp("envs")
    pythons = {}
    for shop, version, taste in (("vanilla", "1.0", "vanilla"), ("chocolate", "2.0", "chocolate")):
        library = wheel(
            folder, "flavour", version, {"flavour.py": FLAVOUR.format(version=version, taste=taste)}
        )
        connector = wheel(
            folder,
            f"{shop}_shop",
            "1.0",
            {f"{shop}_shop.py": SHOP.format(name=shop)},
            f"[connector_proxy.connectors]\n{shop} = {shop}_shop:connector\n",
        )
        pythons[shop] = environment(folder / shop, [library, connector])
        library.unlink()
    return pythons


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, shops: dict[str, Path]) -> Iterator[Daemon]:
    folder = tmp_path_factory.mktemp("isolation")
    shutil.copytree(ROOT / "examples", folder / "examples")  # programs start in plugins.toml's directory
    config = folder / "plugins.toml"
    config.write_text(
        f"""
[server]
workers = 1
threads = 8
[limits]
command_timeout = 2.0
[jobs]
sqlite_path = "jobs.sqlite3"
[connectors.sample.config]
token = "env:SAMPLE_TOKEN"
[connectors.vanilla]
python = "{shops["vanilla"]}"
[connectors.chocolate]
python = "{shops["chocolate"]}"
[connectors.unruly]
python = "{sys.executable}"
workers = 1
[connectors.babbler]
program = ["{sys.executable}", "{FIXTURES / "babbler.py"}"]
workers = 1
[connectors.babbler.typeahead]
never_asked = "babbler.never_asked"  # opened: were its version-2 hello read, it would be served
[connectors.textkit]
program = ["node", "examples/node-connector/connector.js", "textkit"]
[connectors.textkit.config]
prefix = "bpmn-"
[connectors.textkit.typeahead]
languages = "textkit.languages"
[events]
host_url = "http://127.0.0.1:9/v1.0"  # only the senders' answers are looked at
[subscriptions.notes]
trigger = "textkit/note_posted"
message = "note"
settings = {{ secret = "notes-token-0123456789" }}
[connectors.ghost]
program = ["/nonexistent/program"]
"""
    )
    with Daemon(config, TEST_ENV, folder / "daemon.log") as running:
        yield running


def do(
    daemon: Daemon, command: str, payload: dict[str, Any] | None = None, **headers: str
) -> requests.Response:
    return requests.post(f"{daemon.url}/v1/do/{command}", json=payload or {}, headers=headers, timeout=30)


def test_two_connectors_with_conflicting_library_versions_serve_side_by_side(
    daemon: Daemon, shops: dict[str, Path]
) -> None:
    vanilla = do(daemon, "vanilla/Taste").json()["command_response"]["body"]
    chocolate = do(daemon, "chocolate/Taste").json()["command_response"]["body"]

    assert (vanilla["flavour"], vanilla["taste"]) == ("1.0", "vanilla")
    assert (chocolate["flavour"], chocolate["taste"]) == ("2.0", "chocolate")
    assert vanilla["file"].startswith(str(shops["vanilla"].parents[1]))
    with pytest.raises(ImportError):
        __import__("flavour")  # and the daemon's own environment has neither


def test_isolated_commands_look_like_any_other(daemon: Daemon) -> None:
    catalog = {entry["id"]: entry for entry in requests.get(f"{daemon.url}/v1/commands", timeout=5).json()}
    connectors = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()}

    assert catalog["unruly/Fine"]["parameters"][0]["id"] == "text"
    assert "WorkerTimedOut" in [e["error_code"] for e in catalog["unruly/Hang"]["errors"]]
    assert connectors["unruly"]["mode"] == "isolated"
    assert connectors["unruly"]["runs"] == [
        sys.executable,
        "-m",
        "connector_proxy.isolation.worker",
        "unruly",
    ]
    assert connectors["unruly"]["workers"]["size"] == 1
    assert connectors["sample"]["mode"] == "in_process"
    assert connectors["ghost"]["state"] == "worker_error"
    invalid = do(daemon, "unruly/Fine", {"text": 5})
    assert invalid.status_code == 400 and invalid.json()["error"]["error_code"] == "InvalidParameters"
    answer = do(daemon, "unruly/Fine", {"spiff__task_id": "t-1"}).json()
    assert answer["command_response"]["body"]["text"] == "ok"  # the default, filled in by the daemon
    assert answer["command_response"]["body"]["task_id"] == "t-1"
    assert answer["spiff__logs"][0].startswith("[INFO] answering from")
    refused = do(daemon, "unruly/Refuse").json()
    assert (refused["error"]["error_code"], refused["command_response"]["http_status"]) == ("TooSpicy", 422)
    crashed = do(daemon, "unruly/Raise")
    assert crashed.status_code == 500 and crashed.json()["error"]["error_code"] == "CommandCrashed"
    assert "(KeyError)" in crashed.json()["error"]["message"]


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ("unruly/Crash", "WorkerCrashed"),
        ("unruly/Hang", "WorkerTimedOut"),
        ("babbler/Babble", "WorkerProtocolError"),
    ],
)
def test_a_bad_worker_costs_one_call_and_is_replaced(daemon: Daemon, command: str, code: str) -> None:
    fine = f"{command.split('/')[0]}/Fine"
    before = do(daemon, fine).json()["command_response"]["body"]["pid"]

    failed = do(daemon, command)
    after = do(daemon, fine).json()

    assert failed.status_code == 200
    assert failed.json()["error"]["error_code"] == code
    assert after["error"] is None
    assert after["command_response"]["body"]["pid"] != before
    assert do(daemon, "sample/Greet", {"name": "Ada"}).json()["error"] is None  # the rest kept serving


def test_a_version_1_worker_is_asked_only_what_version_1_has(daemon: Daemon) -> None:
    """babbler says protocol 1 and lists a typeahead category anyway: it is never offered or asked."""
    fine = do(daemon, "babbler/Fine")
    unheard = requests.get(f"{daemon.url}/v1/typeahead/babbler.never_asked?prefix=a", timeout=10)

    assert fine.status_code == 200 and fine.json()["error"] is None
    assert unheard.status_code == 404


def test_a_connector_written_in_javascript(daemon: Daemon) -> None:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed")
    slug = do(daemon, "textkit/Slugify", {"text": "Hello, BPMN world"}).json()
    nothing = do(daemon, "textkit/Slugify", {"text": "!!!"}).json()

    assert slug["command_response"]["body"] == {"slug": "bpmn-hello-bpmn-world"}
    assert slug["spiff__logs"] == ["[INFO] Slugify answered by textkit"]
    assert nothing["error"]["error_code"] == "NothingLeft"
    assert nothing["command_response"]["http_status"] == 422
    suggested = requests.get(f"{daemon.url}/v1/typeahead/textkit.languages?prefix=j&limit=5", timeout=10)
    assert suggested.json() == [{"name": "java"}, {"name": "javascript"}]
    note = {"id": 12, "text": "hello"}
    posted = requests.post(
        f"{daemon.url}/v1/inbound/textkit/note_posted",
        json=note,
        headers={"X-Webhook-Token": "notes-token-0123456789"},
        timeout=10,
    )
    forged = requests.post(
        f"{daemon.url}/v1/inbound/textkit/note_posted",
        json=note,
        headers={"X-Webhook-Token": "no"},
        timeout=10,
    )
    assert posted.status_code == 202 and posted.json()["events"][0]["duplicate"] is False
    assert forged.status_code == 401 and forged.json()["error_code"] == "InvalidSignature"


def test_isolated_commands_run_as_jobs_too(daemon: Daemon) -> None:
    accepted = do(daemon, "chocolate/Taste", {"spiff__task_id": "job-1"}, Prefer="respond-async")
    job_id = accepted.json()["command_response"]["body"]["job_id"]

    for _ in range(100):
        job = requests.get(f"{daemon.url}/v1/jobs/{job_id}", timeout=5).json()
        if job["state"] == "succeeded":
            break
        time.sleep(0.05)
    assert accepted.status_code == 202
    assert job["envelope"]["command_response"]["body"]["flavour"] == "2.0"


def _hanging(daemon: Daemon) -> bool:
    """Whether unruly's one worker is alive and taken (by the call that hangs, to its 2 s deadline)."""
    shown = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()}
    workers = shown["unruly"]["workers"]
    return bool(workers["alive"] == 1 and workers["idle"] == 0)


def test_a_client_that_hangs_up_frees_its_isolated_worker(daemon: Daemon) -> None:
    parts = urlsplit(daemon.url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80)) as client:
        client.sendall(
            b"POST /v1/do/unruly/Hang HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2\r\n\r\n{}"
        )
        wait_until(lambda: _hanging(daemon), 10, "unruly's one worker taken by the call")

    started = time.monotonic()
    answers = [do(daemon, "unruly/Fine", {"text": "again"}).json() for _ in range(2)]

    assert [answer["error"] for answer in answers] == [None, None]
    assert time.monotonic() - started < 1.2  # a fresh worker at once, not one freed at the deadline

"""Several proxies as one ([proxies.<name>]): two of our daemons, one aggregating the other, and a server
in the reference proxy's shape; a remote killed mid-call, a remote whose catalog changes, and a connector
moved from the remote to us with a config change and a SIGHUP under load."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from connector_proxy.web.auth import HEADER
from tests.e2e.test_reload import ClientLoop
from tests.support import TEST_CONFIG, TEST_ENV, CallbackReceiver, Daemon, wait_until

MODELS = Path(__file__).parents[1] / "fixtures" / "models"
ENV = {**TEST_ENV, "REMOTE_KEY": "remote-key-1", "OUR_KEY": "our-key-1"}
REMOTE_CONFIG = TEST_CONFIG + '[server]\nworkers = 2\n[auth]\napi_keys = ["env:REMOTE_KEY"]\n'
OURS = {HEADER: "our-key-1"}
VIA = "Connector-Proxy-Via"


def aggregating(tmp_path: Path, url: str, extra: str = "", local_sample: bool = False) -> str:
    """Our daemon's configuration: the sample connector served by the remote at ``url`` only."""
    sample = "" if local_sample else "[connectors.sample]\nenabled = false\n"
    return (
        '[server]\nworkers = 2\n[auth]\napi_keys = ["env:OUR_KEY"]\n'
        f'[jobs]\nsqlite_path = "{tmp_path / "j.sqlite3"}"\n'
        f'{sample}[proxies.remote]\nurl = "{url}"\napi_key = "env:REMOTE_KEY"\nconnectors = ["sample"]\n'
        f"refresh_seconds = 0.3\n{extra}"
    )


def started(tmp_path: Path, name: str, config: str) -> Daemon:
    path = tmp_path / f"{name}.toml"
    path.write_text(config)
    daemon = Daemon(path, ENV, tmp_path / f"{name}.log")
    daemon.wait_ready()
    return daemon


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Daemon]:
    daemon = started(
        tmp_path, "remote", REMOTE_CONFIG + f'[jobs]\nsqlite_path = "{tmp_path / "r.sqlite3"}"\n'
    )
    yield daemon
    daemon.stop()


@pytest.fixture
def ours(tmp_path: Path, remote: Daemon) -> Iterator[Daemon]:
    daemon = started(tmp_path, "ours", aggregating(tmp_path, remote.url))
    yield daemon
    daemon.stop()


def readiness_problems(daemon: Daemon) -> dict[str, dict[str, Any]]:
    """What readiness names (the tests' site has broken connectors of its own: it answers 503)."""
    answer = requests.get(f"{daemon.url}/v1/readiness", headers=OURS, timeout=5).json()
    return {problem["component"]: problem for problem in answer["error"]["details"]}


def do(daemon: Daemon, command: str, body: dict[str, Any], **headers: str) -> requests.Response:
    return requests.post(f"{daemon.url}/v1/do/{command}", json=body, headers={**OURS, **headers}, timeout=30)


def test_a_remote_command_joins_the_catalog_and_runs_through_us_unchanged(
    ours: Daemon, remote: Daemon
) -> None:
    answer = requests.get(f"{ours.url}/v1/commands", headers=OURS, timeout=5)
    assert answer.status_code == 200, answer.text
    listed = {
        entry["id"]: entry
        for entry in requests.get(f"{ours.url}/v1/commands", headers=OURS, timeout=5).json()
    }
    assert listed["sample/Greet"]["proxy"] == "remote" and "http/GetRequestV2" in listed
    call = {"name": "Ada", "times": 2, "spiff__task_data": {"rows": [1, 2, 3]}, "spiff__task_id": "t-1"}

    through_us = do(ours, "sample/Greet", call)
    direct = requests.post(
        f"{remote.url}/v1/do/sample/Greet", json=call, headers={HEADER: "remote-key-1"}, timeout=5
    )

    assert through_us.status_code == 200, through_us.text
    assert through_us.json()["command_response"] == direct.json()["command_response"]
    assert through_us.headers["X-Request-Id"]
    # validated here with the parameters the remote declares: the remote is not asked
    refused = do(ours, "sample/Greet", {"name": 3, "colour": "red"})
    assert refused.status_code == 400 and refused.json()["error"]["error_code"] == "InvalidParameters"
    assert "name" in refused.json()["error"]["message"] and "colour" in refused.json()["error"]["message"]
    described = requests.get(f"{ours.url}/v1/commands/sample/Greet", headers=OURS, timeout=5).json()
    assert described["proxy"] == "remote"
    # a model calling the remote-only command checks clean against us
    model = (MODELS / "clean.bpmn").read_bytes()
    checked = requests.post(
        f"{ours.url}/v1/validate", data=model, headers={**OURS, "Content-Type": "application/xml"}, timeout=10
    )
    assert checked.json()["ok"] is True, checked.json()["findings"]
    document = requests.get(f"{ours.url}/v1/openapi.json", headers=OURS, timeout=5).json()
    greet = document["paths"]["/v1/do/sample/Greet"]["post"]["requestBody"]["content"]["application/json"]
    assert greet["schema"]["required"] == ["name"] and "http/GetRequestV2" in str(document["paths"])
    proxies = requests.get(f"{ours.url}/v1/proxies", headers=OURS, timeout=5).json()

    assert proxies[0]["name"] == "remote" and proxies[0]["state"] == "ready" and proxies[0]["commands"] > 5
    assert "proxy remote" not in readiness_problems(ours)


def test_an_accepted_call_and_its_callback_pass_through(ours: Daemon, remote: Daemon) -> None:
    host = CallbackReceiver()
    try:
        answer = do(ours, "sample/Eventually", {"seconds": 0.1, "spiff__callback_url": host.url + "/cb"})
        assert answer.status_code == 202, answer.text
        status_url = answer.json()["command_response"]["body"]["status_url"]
        # the job is the remote's: the body as it answered, the Location made absolute there
        assert status_url.startswith("/v1/jobs/") and answer.headers["Location"] == remote.url + status_url
        ((path, envelope),) = host.wait_for(1)
    finally:
        host.close()
    assert path == "/cb" and envelope["command_response"]["body"]["done"] is True


def test_typeahead_and_sign_ins_of_a_remote_connector(ours: Daemon) -> None:
    suggested = requests.get(
        f"{ours.url}/v1/typeahead/sample/colours?prefix=b&limit=2", headers=OURS, timeout=5
    )
    assert suggested.status_code == 200 and suggested.json() == ["beige", "black"]
    # without our key, the remote is asked without its key too: it keeps its closed categories closed
    keyless = requests.get(f"{ours.url}/v1/typeahead/sample/colours?prefix=b", timeout=5)
    assert keyless.status_code == 404 and keyless.json()["error"]["error_code"] == "TypeaheadNotFound"
    auths = requests.get(f"{ours.url}/v1/auths", headers=OURS, timeout=5).json()
    assert {"sample/Provider"} <= {a["id"] for a in auths if a.get("proxy") == "remote"}
    start = requests.get(
        f"{ours.url}/v1/auth/sample/Provider?redirect_url=http://h/x", allow_redirects=False, timeout=5
    )
    assert start.status_code == 307
    assert start.headers["Location"].endswith("/v1/auth/sample/Provider?redirect_url=http://h/x")


def test_chains_are_refused(ours: Daemon, tmp_path: Path) -> None:
    chained = do(ours, "sample/Greet", {"name": "Ada"}, **{VIA: "connector-proxy"})
    assert chained.status_code == 421 and chained.json()["error"]["error_code"] == "ProxyChain"
    told = requests.get(f"{ours.url}/v1/commands", headers={**OURS, VIA: "x"}, timeout=5).json()
    assert "sample/Greet" not in {entry["id"] for entry in told}  # another proxy is told of ours alone
    # a third daemon aggregating ours sees only our own connectors: no chain forms
    third = started(
        tmp_path,
        "third",
        aggregating(tmp_path, ours.url).replace("REMOTE_KEY", "OUR_KEY").replace('["sample"]', '["*"]'),
    )
    try:
        ids = {
            entry["id"] for entry in requests.get(f"{third.url}/v1/commands", headers=OURS, timeout=5).json()
        }
        assert "sample/Greet" not in ids and "http/GetRequestV2" in ids
        assert do(third, "sample/Greet", {"name": "Ada"}).status_code == 404
    finally:
        third.stop()


def _in_flight(remote: Daemon) -> float:
    """The sample calls the remote runs now, as its /metrics counts them."""
    text = requests.get(f"{remote.url}/metrics", headers={HEADER: "remote-key-1"}, timeout=5).text
    line = 'connector_proxy_calls_in_flight{connector="sample"} '
    return sum(float(row[len(line) :]) for row in text.splitlines() if row.startswith(line))


def test_a_remote_killed_mid_call_fails_its_own_calls_only(ours: Daemon, remote: Daemon) -> None:
    answers: list[requests.Response] = []
    slow = threading.Thread(target=lambda: answers.append(do(ours, "sample/Sleep", {"seconds": 10})))
    slow.start()
    wait_until(lambda: _in_flight(remote) >= 1, 20, "the slow call running on the remote")
    started_at = time.monotonic()
    remote.kill()
    slow.join(10)

    assert answers and answers[0].status_code == 503, answers
    assert answers[0].json()["error"]["error_code"] == "ProxyUnavailable"
    assert time.monotonic() - started_at < 3
    again = do(ours, "sample/Greet", {"name": "Ada"})
    assert again.status_code == 503 and "proxy remote" in again.json()["error"]["message"]
    assert requests.get(f"{ours.url}/v1/commands", headers=OURS, timeout=2).status_code == 200  # cached
    assert do(ours, "http/GetRequestV2", {"url": "http://127.0.0.1:9/"}).status_code == 200  # ours serve on
    deadline = time.monotonic() + 10
    while "proxy remote" not in (problems := readiness_problems(ours)):
        assert time.monotonic() < deadline, "readiness never named the remote"
        time.sleep(0.1)
    assert {"component": "proxy remote", "state": "unreachable"}.items() <= problems["proxy remote"].items()


def test_a_slow_remote_is_cut_at_the_proxy_timeout(tmp_path: Path, remote: Daemon) -> None:
    daemon = started(tmp_path, "ours", aggregating(tmp_path, remote.url, "timeout = 1.0\n"))
    try:
        began = time.monotonic()
        late = do(daemon, "sample/Sleep", {"seconds": 5})
        assert late.status_code == 504 and late.json()["error"]["error_code"] == "ProxyTimeout"
        assert time.monotonic() - began < 2.5
    finally:
        daemon.stop()


def test_redirect_mode_sends_the_host_to_the_remote(tmp_path: Path) -> None:
    # the host follows with its own key: the remote must take it
    both_keys = REMOTE_CONFIG.replace('["env:REMOTE_KEY"]', '["env:REMOTE_KEY", "env:OUR_KEY"]')
    remote = started(tmp_path, "remote", both_keys + f'[jobs]\nsqlite_path = "{tmp_path / "r.sqlite3"}"\n')
    daemon = started(tmp_path, "ours", aggregating(tmp_path, remote.url, 'mode = "redirect"\n'))
    try:
        moved = do(
            daemon, "sample/Greet", {"name": "Ada"}
        )  # requests follows a 307 with the body, as hosts do
        assert moved.status_code == 200 and moved.history[0].status_code == 307
        assert moved.json()["command_response"]["body"]["greeting"] == "Hello Ada"
        assert do(daemon, "sample/Greet", {"name": 1}).status_code == 400  # still validated here first
    finally:
        daemon.stop()
        remote.stop()


class ReferenceShaped:
    """A server in the reference proxy's shape (spiffworkflow-proxy): ids, and parameters with the
    editor's types only; its catalog can change while it runs."""

    def __init__(self, server: HTTPServer) -> None:
        self.commands: list[dict[str, Any]] = [
            {"id": "example/Hello", "parameters": [{"id": "name", "type": "str", "required": True}]},
            {"id": "example/Plain", "parameters": []},  # a v1 answer: the command's own text
            {"id": "example/Broken", "parameters": []},  # a crashed server's page
            {"id": "example/Elsewhere", "parameters": []},  # a redirect to where we must not go
        ]
        self.calls: list[Any] = []
        server.expect_request("/v1/commands").respond_with_handler(lambda _: json_answer(self.commands))
        server.expect_request("/v1/auths").respond_with_handler(lambda _: json_answer([]))
        server.expect_request("/v1/do/example/Hello", method="POST").respond_with_handler(self._hello)
        server.expect_request("/v1/do/example/Plain", method="POST").respond_with_data(
            "plain words", status=201, content_type="text/plain"
        )
        server.expect_request("/v1/do/example/Elsewhere", method="POST").respond_with_data(
            "", status=307, headers={"Location": server.url_for("/inside")}
        )
        server.expect_request("/inside").respond_with_handler(self._inside)
        server.expect_request("/v1/do/example/Broken", method="POST").respond_with_data(
            "<html><body>Internal Server Error</body></html>", status=500, content_type="text/html"
        )
        self.url = server.url_for("").rstrip("/")

    def _inside(self, request: Request) -> Response:
        self.calls.append(("inside", request.method))
        return json_answer({})

    def _hello(self, request: Request) -> Response:
        self.calls.append((request.get_json(), request.headers.get(VIA)))
        name = request.get_json()["name"]
        return json_answer(
            {
                "command_response": {
                    "body": {"said": f"hi {name}"},
                    "mimetype": "application/json",
                    "http_status": 200,
                },
                "error": None,
                "command_response_version": 2,
                "spiff__logs": [],
            }
        )


def json_answer(document: Any) -> Response:
    return Response(json.dumps(document), content_type="application/json")


def test_a_reference_shaped_proxy_whose_catalog_changes(tmp_path: Path, httpserver: HTTPServer) -> None:
    reference = ReferenceShaped(httpserver)
    config = aggregating(tmp_path, reference.url, local_sample=True).replace(
        'connectors = ["sample"]', 'connectors = ["*"]'
    )
    daemon = started(tmp_path, "ours", config)
    try:
        answer = do(daemon, "example/Hello", {"name": "Ada"})
        assert answer.status_code == 200 and answer.json()["command_response"]["body"] == {"said": "hi Ada"}
        assert reference.calls == [({"name": "Ada"}, "connector-proxy")]
        assert do(daemon, "example/Hello", {"name": 5}).status_code == 400  # "str" read back as a string
        plain = do(daemon, "example/Plain", {})
        assert (plain.status_code, plain.text, plain.headers["Content-Type"]) == (
            201,
            "plain words",
            "text/plain",
        )
        page = do(daemon, "example/Broken", {})
        assert page.status_code == 502 and page.json()["error"]["error_code"] == "ProxyInvalidAnswer"
        assert "html" not in page.text.lower()
        moved = do(daemon, "example/Elsewhere", {})  # never followed: a remote cannot send us anywhere
        assert moved.status_code == 502 and "redirect" in moved.json()["error"]["message"]
        assert ("inside", "POST") not in reference.calls and ("inside", "GET") not in reference.calls

        reference.commands = [{"id": "example/Bye", "parameters": []}]
        deadline = time.monotonic() + 10
        while "example/Bye" not in {
            e["id"] for e in requests.get(f"{daemon.url}/v1/commands", headers=OURS, timeout=5).json()
        }:
            assert time.monotonic() < deadline, "the changed catalog was never read"
            time.sleep(0.1)
        # every worker has read it (each reads every 0.3 s): calls on fresh connections, to either, refused
        wait_until(
            lambda: all(do(daemon, "example/Hello", {"name": "Ada"}).status_code == 404 for _ in range(6)),
            20,
            "every worker reading the changed catalog",
        )
        gone = do(daemon, "example/Hello", {"name": "Ada"})
        assert gone.status_code == 404 and gone.json()["error"]["error_code"] == "command_not_found"
    finally:
        daemon.stop()


def test_moving_a_connector_to_us_is_a_config_change_and_a_sighup_with_no_failed_call(
    tmp_path: Path, remote: Daemon
) -> None:
    daemon = started(tmp_path, "ours", aggregating(tmp_path, remote.url))
    path = tmp_path / "ours.toml"
    try:
        clients = ClientLoop(daemon.url, headers=OURS)
        clients.wait_for(lambda seen: len(seen) > 30)
        old_workers = set(daemon.worker_pids())
        path.write_text(aggregating(tmp_path, remote.url, local_sample=True) + TEST_CONFIG)
        os.kill(daemon.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "configuration reloaded" not in daemon.log.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        settled = len(clients.outcomes)
        wait_until(lambda: not old_workers & set(daemon.worker_pids()), 60, "the old workers leaving")
        remote.kill()  # served here now: the remote is not needed
        clients.wait_for(lambda seen: len(seen) > settled + 60)
        outcomes = clients.stop()
    finally:
        daemon.stop()
    failures = [outcome for outcome in outcomes if outcome != "Hello Ada"]
    assert not failures, failures[:5]

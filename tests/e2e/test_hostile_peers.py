"""The daemon under gunicorn against peers that misbehave (tests/hostile): another proxy whose
typeahead a caller tries to walk, whose catalog declares catastrophic patterns, is huge, changes on
every read or answers where it must not send a host; and secrets that must reach no log line."""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connector_proxy.web.auth import HEADER
from tests.hostile import CATASTROPHIC, HostilePeer, HostileRemote, Knobs
from tests.hostile.remote import envelope
from tests.support import TEST_ENV, Daemon, wait_until

KEY = "our-key-0123456789"
OURS = {HEADER: KEY}
ENV = {**TEST_ENV, "OUR_KEY": KEY, "REMOTE_KEY": "remote-key-0123456789"}


def aggregating(tmp_path: Path, url: str, extra: str = "", server: str = "workers = 2\n") -> Path:
    config = tmp_path / "ours.toml"
    config.write_text(
        f'[server]\n{server}[auth]\napi_keys = ["env:OUR_KEY"]\n'
        f'[jobs]\nsqlite_path = "{tmp_path / "j.sqlite3"}"\n'
        f'[proxies.remote]\nurl = "{url}"\napi_key = "env:REMOTE_KEY"\nrefresh_seconds = 0.5\n{extra}'
    )
    return config


@pytest.fixture
def remote() -> Iterator[HostileRemote]:
    peer = HostileRemote()
    yield peer
    peer.close()


def raw_get(daemon: Daemon, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """GET ``path`` exactly as written (requests would remove its dot segments first)."""
    host, port = daemon.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read() or b"null")
    finally:
        connection.close()


def proxies(daemon: Daemon) -> dict[str, Any]:
    listed = requests.get(f"{daemon.url}/v1/proxies", headers=OURS, timeout=5).json()
    return {entry["name"]: entry for entry in listed}


def wait_for(what: str, check: Any, seconds: float = 20) -> Any:
    return wait_until(check, seconds, what)


MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Definitions_evil">
  <bpmn:process id="Process_evil" isExecutable="true">
    <bpmn:serviceTask id="Task_evil" name="Match">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="evil/P0">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="value" type="str" value="&#34;VALUE&#34;" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
  </bpmn:process>
</bpmn:definitions>
"""

WALKS = [
    "/v1/typeahead/evil/../../../v1/jobs",
    "/v1/typeahead/evil/..%2f..%2f..%2fv1%2fjobs",
    "/v1/typeahead/evil/%2e%2e/%2e%2e/v1/connectors",
    "/v1/typeahead/evil/%2E%2E%2F%2E%2E%2Fv1%2Fjobs",
    "/v1/typeahead/evil/names%252f..%252f..",
    "/v1/typeahead/evil/./names",
    "/v1/typeahead/evil/names\\..\\..\\v1",
]


def test_a_typeahead_category_never_walks_the_remotes_paths(tmp_path: Path, remote: HostileRemote) -> None:
    remote.commands = [{"id": "evil/Do", "parameters": []}]
    with Daemon(aggregating(tmp_path, remote.url), ENV, tmp_path / "d.log") as daemon:
        wait_for("the remote's catalog read", lambda: proxies(daemon)["remote"]["state"] == "ready")
        status, suggested = raw_get(daemon, "/v1/typeahead/evil/names?prefix=a", OURS)
        assert (status, suggested) == (200, ["suggested"])  # the way in works: the walks below are refused
        asked = [path for path in remote.paths() if path.startswith("/v1/typeahead/")]
        assert asked == ["/v1/typeahead/evil/names?prefix=a"]
        for walk in WALKS:
            for headers in (OURS, {}):
                status, answer = raw_get(daemon, walk, headers)
                assert status in (400, 404), (walk, status, answer)
                assert answer["error"]["error_code"] in ("TypeaheadNotFound", "BadRequest", "NotFound")
        for walk in ("/v1/auth/evil/%2e%2e", "/v1/auth/evil/..%2f..%2fv1%2fjobs", "/v1/auth/%2e%2e/jobs"):
            status, _answer = raw_get(daemon, walk)
            assert status == 404, walk  # a sign-in no one offers: the browser is sent nowhere
        sent = [path for path in remote.paths() if not path.startswith(("/v1/commands", "/v1/auths"))]
    assert sent == asked, f"the daemon sent the remote {sent}"


def test_a_remote_command_id_that_walks_a_path_is_left_out(tmp_path: Path, remote: HostileRemote) -> None:
    remote.commands = [
        {"id": "evil/..", "parameters": []},
        {"id": "evil/%2e%2e", "parameters": []},
        {"id": "evil/a%2fb", "parameters": []},
        {"id": "evil/Fine", "parameters": []},
    ]
    with Daemon(aggregating(tmp_path, remote.url), ENV, tmp_path / "d.log") as daemon:
        status = wait_for(
            "the catalog read", lambda: proxies(daemon)["remote"]["read_at"] and proxies(daemon)
        )
        ids = {e["id"] for e in requests.get(f"{daemon.url}/v1/commands", headers=OURS, timeout=5).json()}
        answer = requests.post(f"{daemon.url}/v1/do/evil/Fine", json={}, headers=OURS, timeout=10)
    assert "evil/Fine" in ids and not {"evil/..", "evil/%2e%2e", "evil/a%2fb"} & ids
    assert len(status["remote"]["skipped"]) == 3 and answer.status_code == 200
    assert [p for p in remote.paths() if p.startswith("/v1/do/")] == ["/v1/do/evil/Fine"]


def test_catastrophic_patterns_cannot_hold_a_worker(tmp_path: Path, remote: HostileRemote) -> None:
    remote.patterns([pattern for pattern, _ in CATASTROPHIC] + ["^(a)\\1$", "^(?=a)a$"])
    with Daemon(aggregating(tmp_path, remote.url), ENV, tmp_path / "d.log") as daemon:
        state = wait_for("the catalog read", lambda: proxies(daemon)["remote"]["read_at"] and proxies(daemon))
        skipped = state["remote"]["skipped"]
        # a pattern RE2 cannot match (a backreference, a lookahead) is refused when the catalog is read
        assert len(skipped) == 2 and all("linear time" in why for why in skipped), skipped
        slowest: list[float] = []
        stop = threading.Event()

        def probe() -> None:
            while not stop.is_set():
                began = time.monotonic()
                requests.get(f"{daemon.url}/v1/liveness", timeout=10).raise_for_status()
                slowest.append(time.monotonic() - began)
                time.sleep(0.05)

        prober = threading.Thread(target=probe)
        prober.start()
        try:
            for index, (_pattern, value) in enumerate(CATASTROPHIC):
                began = time.monotonic()
                answer = requests.post(
                    f"{daemon.url}/v1/do/evil/P{index}", json={"value": value}, headers=OURS, timeout=30
                )
                assert answer.status_code == 400, answer.text
                assert answer.json()["error"]["error_code"] == "InvalidParameters"
                assert time.monotonic() - began < 5
                matched = requests.post(
                    f"{daemon.url}/v1/do/evil/P0", json={"value": "aaaa"}, headers=OURS, timeout=30
                )
                assert matched.status_code == 200  # a matching value still passes
            # a model's literal is checked against the remote's pattern too (POST /v1/validate)
            began = time.monotonic()
            checked = requests.post(
                f"{daemon.url}/v1/validate",
                data=MODEL.replace("VALUE", "a" * 30_000 + "!").encode(),
                headers={**OURS, "Content-Type": "application/xml"},
                timeout=30,
            )
            assert checked.status_code == 200 and time.monotonic() - began < 5
            assert [f["kind"] for f in checked.json()["findings"]] == ["wrong_type"], checked.json()
        finally:
            stop.set()
            prober.join()
    assert max(slowest) < 2, max(slowest)


def test_a_remote_schemas_ref_is_never_fetched_and_its_command_left_out(
    tmp_path: Path, remote: HostileRemote
) -> None:
    with HostilePeer() as target:  # where the catalog's $ref points: it must hear nothing
        target.answer("/*", {"type": "string"}, Knobs(slow=60))  # accepts, then never answers in time
        remote.refs([f"{target.url}/ssrf.json", "file:///etc/hostname", "#/definitions/x", "#/$defs/none"])
        remote.commands.append(
            {"id": "evil/Fine", "parameters": [{"id": "value", "schema": {"type": "string"}}]}
        )
        with Daemon(aggregating(tmp_path, remote.url), ENV, tmp_path / "d.log") as daemon:
            state = wait_for(
                "the catalog read", lambda: proxies(daemon)["remote"]["read_at"] and proxies(daemon)
            )
            answers = []
            for index in range(4):
                began = time.monotonic()
                called = requests.post(
                    f"{daemon.url}/v1/do/evil/R{index}", json={"value": "x"}, headers=OURS, timeout=10
                )
                answers.append(
                    (called.status_code, called.json()["error"]["error_code"], time.monotonic() - began)
                )
            fine = requests.post(
                f"{daemon.url}/v1/do/evil/Fine", json={"value": "x"}, headers=OURS, timeout=10
            )
            alive = liveness_for(daemon, 1)
        asked = target.paths()
    skipped = state["remote"]["skipped"]
    assert asked == [], f"the daemon fetched {asked}"
    assert len(skipped) == 4 and all("does not resolve within its schema" in why for why in skipped), skipped
    assert all(why.startswith(f"evil/R{index}: ") for index, why in enumerate(sorted(skipped)))
    assert [(status, code) for status, code, _ in answers] == [(404, "command_not_found")] * 4, answers
    assert max(took for *_, took in answers) < 5 and fine.status_code == 200
    assert max(alive) < 2, max(alive)


def test_a_remote_answer_is_passed_on_safely(tmp_path: Path, remote: HostileRemote) -> None:
    remote.commands = [
        {"id": "odd/Away", "parameters": []},
        {"id": "odd/Home", "parameters": []},
        {"id": "odd/Picture", "parameters": []},
        {  # the reference proxy's shape, and fields the protocol does not name
            "id": "odd/Shapes",
            "description": None,
            "x-owner": {"team": "elsewhere"},
            "parameters": [
                {"id": "plain", "type": "str", "required": True},
                {"id": "nothing"},
                {"id": "odd", "schema": "not an object", "required": "yes", "extra": [1, 2]},
            ],
        },
    ]
    accepted = envelope({"job_id": "j-1"}, 202)
    for name, location in (("Away", "http://evil.example/v1/jobs/j-1"), ("Home", "/v1/jobs/j-1")):
        remote.answer(f"/v1/do/odd/{name}", accepted, Knobs(status=202, headers={"Location": location}))
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    remote.answer("/v1/do/odd/Picture", svg, Knobs(content_type="image/svg+xml"))
    config = aggregating(tmp_path, remote.url)
    config.write_text(config.read_text().replace('api_keys = ["env:OUR_KEY"]', "api_keys = []"))
    with Daemon(config, ENV, tmp_path / "d.log") as daemon:
        wait_for("the catalog read", lambda: proxies(daemon)["remote"]["state"] == "ready")
        away = requests.post(f"{daemon.url}/v1/do/odd/Away", json={}, timeout=10)
        home = requests.post(f"{daemon.url}/v1/do/odd/Home", json={}, timeout=10)
        picture = requests.post(f"{daemon.url}/v1/do/odd/Picture", json={}, timeout=10)
        page = requests.get(f"{daemon.url}/", timeout=10)
    assert away.status_code == 502 and away.json()["error"]["error_code"] == "ProxyInvalidAnswer"
    assert "Location" not in away.headers and "evil.example" not in away.text
    assert home.status_code == 202 and home.headers["Location"] == remote.url + "/v1/jobs/j-1"
    assert picture.status_code == 200 and picture.headers["Content-Type"] == "image/svg+xml"
    assert picture.headers["X-Content-Type-Options"] == "nosniff"
    assert away.headers["X-Content-Type-Options"] == "nosniff"
    assert page.status_code == 200, page.text[:2000]
    assert "odd/Shapes" in page.text and "plain" in page.text


def test_a_big_catalog_changing_every_two_seconds_leaves_the_daemon_responsive(
    tmp_path: Path, remote: HostileRemote
) -> None:
    remote.big(6000)  # 3 MB a read; unchanged at first, then a new one at each read
    config = aggregating(tmp_path, remote.url, server="workers = 2\n")
    config.write_text(config.read_text().replace("refresh_seconds = 0.5", "refresh_seconds = 2"))
    with Daemon(config, ENV, tmp_path / "d.log") as daemon:
        wait_for("the catalog read", lambda: proxies(daemon)["remote"]["commands"] == 6000, 60)
        unchanged = liveness_for(daemon, 6)  # what the machine's own load costs a probe
        remote.big(6000, changing=True)
        reads = remote.reads
        changing = liveness_for(daemon, 16)
        called = requests.post(
            f"{daemon.url}/v1/do/big/Command5999", json={"first": "x"}, headers=OURS, timeout=10
        )
        reread = remote.reads - reads
    log = daemon.log.read_text()
    calm, busy = (statistics.quantiles(took, n=100)[98] for took in (unchanged, changing))
    print(f"liveness p99: {calm * 1000:.1f} ms unchanged, {busy * 1000:.1f} ms changing every 2 s")
    assert reread >= 8  # both workers read it again every 2 s all along: the rebuilds were measured
    assert "WORKER TIMEOUT" not in log and called.status_code == 200
    # under 100 ms, beyond what a busy machine costs the unchanged daemon (beside CPU hogs, that is
    # tens of ms; a rebuild on the event loop, as before, cost seconds)
    assert busy < 0.1 + calm, f"liveness p99 {busy * 1000:.0f} ms (unchanged {calm * 1000:.0f} ms)"


def liveness_for(daemon: Daemon, seconds: float) -> list[float]:
    """How long each liveness probe took, one every 20 ms for ``seconds``."""
    took, ended = [], time.monotonic() + seconds
    with requests.Session() as session:
        while time.monotonic() < ended:
            began = time.monotonic()
            session.get(f"{daemon.url}/v1/liveness", timeout=10).raise_for_status()
            took.append(time.monotonic() - began)
            time.sleep(0.02)  # a duration, not an event: one probe every 20 ms
    return took


@pytest.mark.parametrize(
    ("limit", "named"),
    [("max_commands = 100", "max_commands (100)"), ("max_catalog_bytes = 65536", "max_catalog_bytes (65536")],
)
def test_a_catalog_over_its_limits_is_refused_and_named(
    tmp_path: Path, remote: HostileRemote, limit: str, named: str
) -> None:
    remote.big(300)
    with Daemon(aggregating(tmp_path, remote.url, limit + "\n"), ENV, tmp_path / "d.log") as daemon:
        state = wait_for(
            "the refusal", lambda: proxies(daemon)["remote"]["state"] == "too_large" and proxies(daemon)
        )
        ready = requests.get(f"{daemon.url}/v1/readiness", headers=OURS, timeout=5).json()
    assert named in state["remote"]["detail"] and state["remote"]["commands"] == 0
    problems = {p["component"]: p for p in ready["error"]["details"]}
    assert problems["proxy remote"]["state"] == "too_large"


def traced_config(tmp_path: Path) -> Path:
    config = tmp_path / "traced.toml"
    config.write_text(
        '[server]\nworkers = 1\n[auth]\napi_keys = ["env:OUR_KEY"]\n'
        '[connectors.sample.config]\ntoken = "env:SAMPLE_TOKEN"\n'
        f'[jobs]\nsqlite_path = "{tmp_path / "j.sqlite3"}"\n'
    )
    return config


def test_no_secret_reaches_a_log_line_and_odd_paths_are_a_400(tmp_path: Path) -> None:
    from tests.hostile import HostileCollector

    steer = tmp_path / "check"
    steer.write_text("crash")  # the sample's check raises KeyError(<its token>)
    collector = HostileCollector()
    environ = {
        **ENV,
        "SAMPLE_CHECK_FILE": str(steer),
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    try:
        with Daemon(traced_config(tmp_path), environ, tmp_path / "d.log") as daemon:
            checked = requests.post(f"{daemon.url}/v1/connectors/sample/check", headers=OURS, timeout=30)
            odd = {
                path: requests.request(method, f"{daemon.url}{path}", headers=OURS, timeout=10)
                for method, path in (
                    ("POST", "/page/operations/retry/x%0d%0aSet-Cookie:%20a=b"),
                    ("GET", "/v1/jobs/x%0d%0aX-Evil:%201"),
                    ("GET", "/v1/commands/sample/Gr%00eet"),
                    ("GET", "/v1/typeahead/sample/col%0aours"),
                )
            }
            requests.get(f"{daemon.url}/no/such/route-with-a-secret-0123", headers=OURS, timeout=10)
            # a collector that misbehaves slows nothing: each knob in turn, calls and liveness stay prompt
            for knobs in (Knobs(slow=3), Knobs(html=True), Knobs(garbage=True), Knobs(status=500)):
                collector.misbehave(knobs)
                began = time.monotonic()
                for _ in range(5):
                    greet = requests.post(
                        f"{daemon.url}/v1/do/sample/Greet", json={"name": "Ada"}, headers=OURS, timeout=10
                    )
                    assert greet.status_code == 200
                    requests.get(f"{daemon.url}/v1/liveness", timeout=5).raise_for_status()
                    time.sleep(0.1)
                assert time.monotonic() - began < 5, knobs
            collector.misbehave(Knobs(content_type="application/x-protobuf"))
            wait_for(
                "the spans",
                lambda: any(s["name"] == "POST /v1/do/<connector>/<command>" for s in collector.spans()),
            )
        log = daemon.log.read_text()
        spans = collector.spans()
    finally:
        collector.close()
    assert checked.status_code == 200 and checked.json()["state"] == "failed"
    assert "KeyError" in log and "********" in log  # the exception is logged, its secret masked
    assert TEST_ENV["SAMPLE_TOKEN"] not in log and TEST_ENV["SAMPLE_TOKEN"] not in str(spans)
    for path, answer in odd.items():
        assert answer.status_code == 400, (path, answer.status_code, answer.text)
        assert answer.json()["error"]["error_code"] == "BadRequest" and "Set-Cookie" not in answer.headers
    names = {span["name"] for span in spans}
    assert "GET" in names and not [name for name in names if "route-with-a-secret" in name]
    assert not [name for name in names if "%0d" in name.lower() or "\r" in name]


@pytest.mark.parametrize(
    "knobs", [Knobs(html=True), Knobs(garbage=True), Knobs(loop=True)], ids=["html", "garbage", "loop"]
)
def test_a_hostile_secrets_store_leaves_its_connector_out_and_says_why(tmp_path: Path, knobs: Knobs) -> None:
    from tests.hostile import HostilePeer

    with HostilePeer() as store:
        store.answer("/*", {"SecretString": "never-seen-0123456789"}, knobs)
        config = tmp_path / "plugins.toml"
        config.write_text('[connectors.sample.config]\ntoken = "aws-sm:somewhere/token"\n')
        aws = {
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": store.url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "AKIDHOSTILE",
            "AWS_SECRET_ACCESS_KEY": "hostile-store-0123",
        }
        began = time.monotonic()
        with Daemon(config, {**TEST_ENV, **aws}, tmp_path / "d.log") as daemon:
            shown = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()}
            alive = requests.get(f"{daemon.url}/v1/liveness", timeout=5).status_code
        took = time.monotonic() - began
    assert alive == 200 and took < 60
    assert shown["sample"]["state"] == "config_error"
    assert shown["sample"]["detail"].startswith("aws-sm:somewhere/token")
    assert "never-seen" not in daemon.log.read_text() and "<html" not in daemon.log.read_text()

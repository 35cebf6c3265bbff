"""SpiffWorkflow's own connector packages, installed unchanged, served like any connector.

The packages live in tests/fixtures/spiff_site, shaped exactly like
connector-example, connector-smtp, connector-postgres and connector-http.
Their SMTP server, PostgreSQL and callback receiver are real, on 127.0.0.1.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient

from connector_proxy.sdk.testing import free_port
from tests.support import (
    SPIFF_SITE,
    TEST_ENV,
    CallbackReceiver,
    Daemon,
    call,
    client_from,
    completed,
    environment,
    succeeded,
    wheel,
)

CONFIG = """
[connectors.sample.config]
token = "env:SAMPLE_TOKEN"
[connectors.example.config]
greeting = "env:EXAMPLE_GREETING"
[connectors.http.config.destinations]
allow_loopback = true
"""
ENV = {**TEST_ENV, "EXAMPLE_GREETING": "hi there"}


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    monkeypatch.syspath_prepend(str(SPIFF_SITE))
    return client_from(tmp_path, CONFIG, ENV)


def statuses(client: FlaskClient) -> dict[str, dict[str, Any]]:
    shown = client.get("/v1/connectors").get_json()
    return {f"{c['name']}#{c['module'] or c['entry_point']}": c for c in shown}


def test_commands_appear_under_the_old_proxys_ids_with_its_parameter_types(client: FlaskClient) -> None:
    catalog = {entry["id"]: entry for entry in client.get("/v1/commands").get_json()}
    combine = {p["id"]: p for p in catalog["example/CombineStrings"]["parameters"]}

    assert {
        "example/CombineStrings",
        "example/RawText",
        "smtp/SendEmail",
        "postgres_v2/SelectValuesV2",
    } <= set(catalog)
    assert "example/NotACommand" not in catalog  # a helper class outside commands/
    assert [(p, combine[p]["type"], combine[p]["required"]) for p in combine] == [
        ("arg1", "str", True),
        ("arg2", "str", True),
        ("separator", "str", False),
        ("times", "int", False),
        ("loud", "bool", False),
    ]
    assert combine["arg1"]["description"] == "The first string."
    assert (
        catalog["example/CombineStrings"]["description"]
        == "Join two strings, as the old proxy's example does."
    )
    assert (
        catalog["smtp/SendEmail"]["description"] == ""
    )  # the interface's base class docstring is not its own
    schema = {p["id"]: p for p in catalog["postgres_v2/SelectValuesV2"]["parameters"]}["schema"]
    assert (schema["type"], schema["required"]) == ("any", True)


def test_connectors_show_their_interface_clashes_and_failures(client: FlaskClient) -> None:
    shown = statuses(client)

    example = shown["example#connector_example"]
    assert (example["state"], example["interface"], example["entry_point"]) == (
        "ready",
        "spiffworkflow",
        None,
    )
    assert example["config"] == {"greeting": "********"}  # every value of a package's table may be a secret
    assert shown["http#connector_proxy_http:connector"]["state"] == "ready"  # ours wins by default
    clash = shown["http#connector_http"]
    assert clash["state"] == "duplicate"
    assert "discovery.prefer = 'entry_point'" in clash["detail"]
    broken = shown["crumbling#connector_crumbling"]
    assert broken["state"] == "import_error" and "a_module_that_does_not_exist" in broken["detail"]


def test_a_v2_answer_keeps_its_logs_and_sees_config_and_task_data(client: FlaskClient) -> None:
    envelope = completed(
        client,
        "example/CombineStrings",
        arg1="a",
        arg2="b",
        separator="-",
        times=2,
        loud=True,
        spiff__task_data={"x": 1, "y": 2},
        spiff__callback_url=None,
    )

    assert envelope["error"] is None
    assert envelope["command_response"] == {
        "body": {"combined": "A-B-A-B", "seen": ["x", "y"]},
        "mimetype": "application/json",
        "http_status": 200,
    }
    assert envelope["spiff__logs"] == ["combined 7 characters", "greeting is hi there"]


def test_bad_calls_get_400_naming_the_field_where_the_old_proxy_raised_typeerror(client: FlaskClient) -> None:
    missing = call(client, "example/CombineStrings", {"arg1": "a"})
    unknown = call(client, "example/CombineStrings", {"arg1": "a", "arg2": "b", "colour": "red"})
    wrong = call(client, "example/CombineStrings", {"arg1": "a", "arg2": "b", "times": "twice"})

    assert missing[0] == unknown[0] == wrong[0] == 400
    assert "arg2: is required" in missing[1]["error"]["message"]
    assert "colour" in unknown[1]["error"]["message"]
    assert "times: must be an integer, or its digits as a string" in wrong[1]["error"]["message"]
    assert missing[1]["error"]["error_code"] == "InvalidParameters"


def test_an_int_parameter_takes_a_numeric_string_as_the_old_proxy_did(client: FlaskClient) -> None:
    """Models written for the old proxy send "587" for an int; the package gets the number."""
    as_text = succeeded(client, "example/CombineStrings", arg1="a", arg2="b", times=" 2 ")
    fraction = call(client, "example/CombineStrings", {"arg1": "a", "arg2": "b", "times": 2.5})
    entry = {e["id"]: e for e in client.get("/v1/commands").get_json()}["example/CombineStrings"]

    assert as_text["combined"] == "abab"  # a str would have failed: ["a", "b"] * "2"
    assert fraction[0] == 400
    assert {p["id"]: p["type"] for p in entry["parameters"]}["times"] == "int"  # the host's editor: int


def test_untyped_and_optional_parameters_are_passed_as_the_old_proxy_did(client: FlaskClient) -> None:
    loose = succeeded(client, "example/Untyped", anything=[1, 2], colour="red")
    optional = succeeded(client, "example/OptionalNoDefault", name="Ann")

    assert loose == {"anything": [1, 2], "maybe": None, "extra": {"colour": "red"}}
    assert optional == {"name": "Ann", "nickname": None}


def test_v1_answers_are_normalised(client: FlaskClient) -> None:
    text = completed(client, "example/RawText", text="plain words")
    parsed = succeeded(client, "example/JsonText", value=7)
    missing = completed(client, "example/NotThere")

    assert text["command_response"] == {
        "body": {"raw_response": "plain words"},
        "mimetype": "text/plain",
        "http_status": 200,
    }
    assert parsed == {"value": 7}
    assert missing["error"]["error_code"] == "HttpError404"
    assert missing["command_response"]["http_status"] == 404
    assert missing["command_response"]["body"] == {"message": "no such record"}


def test_failures_become_the_usual_error_envelopes(client: FlaskClient) -> None:
    reported = completed(client, "example/ReportedError", reason="by Bob")
    exploded = call(client, "example/Explode", {})
    nonsense = completed(client, "example/Nonsense")

    assert reported["error"] == {"error_code": "RecordLocked", "message": "the record is locked: by Bob"}
    assert reported["command_response"]["http_status"] == 500 and reported["spiff__logs"] == ["tried once"]
    assert exploded[0] == 500
    assert exploded[1]["error"] == {
        "error_code": "CommandCrashed",
        "message": "example/Explode failed unexpectedly (ZeroDivisionError); see the log",
    }
    assert nonsense["error"]["error_code"] == "PackageAnswerInvalid"
    assert nonsense["command_response"]["http_status"] == 502


def test_execute_async_is_relayed_to_the_host_with_the_callback_credentials(tmp_path: Path) -> None:
    """The package PUTs to the URL it is handed, with no credentials, which the real host refuses
    (401): it is handed the daemon's relay, and the daemon delivers with jobs.callback_headers."""
    config = tmp_path / "plugins.toml"
    jobs = '[jobs]\ncallback_headers = ["SpiffWorkflow-Api-Key: env:HOST_KEY"]\n'
    jobs += 'callback_allow = ["127.0.0.1"]\n'
    config.write_text(CONFIG + jobs)
    receiver = CallbackReceiver(api_key="service-account-key")
    daemon = Daemon(
        config, {**ENV, "HOST_KEY": "service-account-key"}, tmp_path / "d.log", site=(SPIFF_SITE,)
    )
    try:
        daemon.wait_ready()
        started = _post_raw(
            daemon, "example/NotifyLater", message="hello", spiff__callback_url=f"{receiver.url}/cb/1"
        )
        arrived = receiver.wait_for(1)
        plain = _post(daemon, "example/NotifyLater", {"message": "now"})
        refused = _post(
            daemon,
            "example/RejectedStart",
            {"upstream_status": 503, "spiff__callback_url": f"{receiver.url}/cb/2"},
        )
        jobs = requests.get(f"{daemon.url}/v1/jobs", timeout=5).json()["jobs"]
    finally:
        daemon.stop()
        receiver.close()

    assert started.status_code == 202
    assert started.json()["error"] is None and started.json()["command_response"]["body"] == {"started": True}
    assert started.json()["spiff__logs"] == ["handed over"]
    assert arrived[0][0] == "/cb/1" and receiver.attempts == 1  # the package's own PUT never reached it
    assert arrived[0][1]["command_response"]["body"] == {"message": "hello", "how": "by callback"}
    assert plain["command_response"]["body"] == {
        "message": "now",
        "how": "synchronously",
    }  # no URL: execute()
    assert refused["error"]["error_code"] == "AsyncStartRejected"  # the host fails the task, no waiting
    assert refused["command_response"]["http_status"] == 503
    assert sorted((j["state"], j["delivery"]["state"]) for j in jobs) == [
        ("failed", "none"),  # the rejected start: answered at once, nothing to deliver
        ("succeeded", "delivered"),
    ]


def _post_raw(daemon: Daemon, command: str, **payload: Any) -> requests.Response:
    return requests.post(f"{daemon.url}/v1/do/{command}", json=payload, timeout=10)


def test_the_clash_rule_and_the_switch_are_configurable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(SPIFF_SITE))
    theirs = client_from(tmp_path, CONFIG + '[discovery]\nprefer = "spiffworkflow"\n', ENV)
    off = client_from(tmp_path, CONFIG + "[discovery]\nspiffworkflow_packages = false\n", ENV)

    their_http = {c["name"] + "#" + c["state"]: c for c in theirs.get("/v1/connectors").get_json()}
    off_ids = [entry["id"] for entry in off.get("/v1/commands").get_json()]
    assert their_http["http#ready"]["module"] == "connector_http"
    assert their_http["http#duplicate"]["entry_point"] == "connector_proxy_http:connector"
    params = {p["id"] for p in theirs.get("/v1/commands/http/GetRequestV2").get_json()["parameters"]}
    assert params == {"url", "headers"}
    assert not any(command_id.startswith(("example/", "smtp/")) for command_id in off_ids)


class Inbox:
    """Messages the SMTP server on 127.0.0.1 accepted."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes

        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, inbox
    controller.stop()


def test_smtp_package_sends_mail_to_a_real_server(client: FlaskClient, smtp: tuple[int, Inbox]) -> None:
    port, inbox = smtp
    mail = {
        "smtp_host": "127.0.0.1",
        "email_subject": "Invoice approved",
        "email_body": "It is done.",
        "email_to": "ann@example.com",
        "email_from": "proxy@example.com",
    }

    sent = completed(client, "smtp/SendEmail", smtp_port=port, **mail)
    refused = completed(client, "smtp/SendEmail", smtp_port=free_port(), **mail)

    assert sent["error"] is None and sent["spiff__logs"] == ["will send", "did send"]
    assert [(m["Subject"], m["To"]) for m in inbox.messages] == [("Invoice approved", "ann@example.com")]
    assert refused["error"]["error_code"] == "ConnectionRefusedError"


@pytest.fixture
def database() -> Iterator[str]:
    """A database of the test's own on the PostgreSQL at 127.0.0.1, dropped afterwards."""
    admin = os.environ.get(
        "CONNECTOR_PROXY_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    )
    try:
        connection = psycopg2.connect(admin, connect_timeout=3)
    except psycopg2.OperationalError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL at {admin!r}: {error}")
    connection.autocommit = True
    name = f"cp_legacy_{secrets.token_hex(4)}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{admin.replace('dbname=postgres', '')} dbname={name}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE {name} WITH (FORCE)")
        connection.close()


def test_postgres_package_inserts_and_selects(client: FlaskClient, database: str) -> None:
    with psycopg2.connect(database) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE people (name text, age int)")
    connection.close()
    people = {"columns": ["name", "age"], "values": [["Ann", 31], ["Bob", 42]]}

    inserted = succeeded(
        client,
        "postgres_v2/InsertValuesV2",
        database_connection_str=database,
        table_name="people",
        schema=people,
    )
    selected = succeeded(
        client,
        "postgres_v2/SelectValuesV2",
        database_connection_str=database,
        table_name="people",
        schema={"columns": ["name", "age"]},
    )
    failed = completed(
        client,
        "postgres_v2/SelectValuesV2",
        database_connection_str=database,
        table_name="nobody",
        schema={"columns": ["name"]},
    )

    assert inserted == {"result": "2 rows affected"}
    assert selected == [["Ann", 31], ["Bob", 42]]  # the package's JSON text, parsed
    assert failed["error"]["error_code"] == "UndefinedTable"


def test_through_the_daemon_and_isolated_in_an_environment_of_their_own(
    tmp_path: Path, smtp: tuple[int, Inbox]
) -> None:
    """As an operator would: the packages pip-installed into a virtual environment, served isolated,
    and the same packages beside the daemon on its path."""
    wheels = [
        wheel(tmp_path, name, "1.0", _modules(module), "")
        for name, module in (
            ("spiffworkflow_connector_command", "spiffworkflow_connector_command"),
            ("connector_example", "connector_example"),
        )
    ]
    python = environment(tmp_path / "venv", wheels)
    config = tmp_path / "plugins.toml"
    config.write_text(CONFIG + f'[connectors.example]\npython = "{python}"\n')
    receiver = CallbackReceiver()
    daemon = Daemon(config, ENV, tmp_path / "daemon.log", site=(SPIFF_SITE,))
    port, inbox = smtp
    try:
        daemon.wait_ready()
        ids = [entry["id"] for entry in requests.get(f"{daemon.url}/v1/commands", timeout=5).json()]
        shown = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()}
        combined = _post(daemon, "example/CombineStrings", {"arg1": "x", "arg2": "y", "spiff__task_data": {}})
        missing = requests.post(f"{daemon.url}/v1/do/example/CombineStrings", json={"arg1": "x"}, timeout=10)
        later = requests.post(
            f"{daemon.url}/v1/do/example/NotifyLater",
            json={"message": "isolated", "spiff__callback_url": f"{receiver.url}/cb/9"},
            timeout=10,
        )
        arrived = receiver.wait_for(1)
        mailed = _post(
            daemon,
            "smtp/SendEmail",
            {
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "email_subject": "From the daemon",
                "email_body": "b",
                "email_to": "a@example.com",
                "email_from": "p@example.com",
            },
        )
    finally:
        daemon.stop()
        receiver.close()

    assert {"example/CombineStrings", "smtp/SendEmail", "postgres_v2/SelectValuesV2"} <= set(ids)
    assert shown["example"]["mode"] == "isolated"
    assert combined["command_response"]["body"]["combined"] == "xy"
    assert combined["spiff__logs"] == ["combined 2 characters", "greeting is hi there"]
    assert missing.status_code == 400 and "arg2" in missing.json()["error"]["message"]
    assert later.status_code == 202 and arrived[0][1]["command_response"]["body"]["how"] == "by callback"
    assert mailed["error"] is None and [m["Subject"] for m in inbox.messages] == ["From the daemon"]
    assert "hi there" not in daemon.log.read_text()  # a package's configuration is never logged


def _modules(package: str) -> dict[str, str]:
    root = SPIFF_SITE / package
    return {
        str(path.relative_to(SPIFF_SITE)): path.read_text()
        for path in root.rglob("*.py")
        if "__pycache__" not in path.parts
    }


def _post(daemon: Daemon, command: str, payload: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(f"{daemon.url}/v1/do/{command}", json=payload, timeout=15)
    assert answer.status_code == 200, answer.text
    envelope: dict[str, Any] = answer.json()
    return envelope

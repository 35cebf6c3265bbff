"""Inbound webhooks and subscriptions in the test's process (Flask's test client): what is refused,
with which code, and how a subscription that cannot run is reported. Delivery is end to end in
tests/events/."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from connector_proxy.config import ConfigError
from tests.support import TEST_CONFIG, TEST_ENV, Daemon, client_from, settings_from

TOKEN = "signup-token-0123456789"
ENVIRON = {**TEST_ENV, "SIGNUP_TOKEN": TOKEN}
EVENTS = '[events]\nhost_url = "http://127.0.0.1:9/v1.0"\n'
SIGNUPS = """
[subscriptions.signups]
trigger = "sample/signup"
message = "signed_up"
settings = { secret = "env:SIGNUP_TOKEN" }
"""


def client(tmp_path: Path, subscriptions: str = SIGNUPS) -> FlaskClient:
    return client_from(tmp_path, TEST_CONFIG + EVENTS + subscriptions, ENVIRON)


def signup(client: FlaskClient, body: Any, token: str = TOKEN, path: str = "signups") -> tuple[int, Any]:
    answer = client.post(f"/v1/inbound/sample/signup/{path}", json=body, headers={"X-Webhook-Token": token})
    assert answer.mimetype == "application/json"
    return answer.status_code, answer.get_json()


def test_an_event_is_checked_against_the_triggers_schema(tmp_path: Path) -> None:
    app = client(tmp_path)

    status, answer = signup(app, {"email": "ada@example.com", "plan": "gold"})
    assert status == 400 and answer["error"]["error_code"] == "InvalidEvent"
    assert (
        answer["error"]["message"]
        == "The event does not fit the trigger's schema: plan: must be one of free or pro"
    )
    status, answer = signup(app, {"plan": "pro"})
    assert (status, answer["error"]["details"]) == (400, [{"field": "email", "problem": "is required"}])
    not_json = app.post("/v1/inbound/sample/signup", data=b"email=ada", headers={"X-Webhook-Token": TOKEN})
    assert not_json.status_code == 400 and "not valid JSON" in not_json.get_json()["error"]["message"]
    nan = app.post("/v1/inbound/sample/signup", data=b'{"email": NaN}', headers={"X-Webhook-Token": TOKEN})
    assert nan.status_code == 400 and nan.get_json()["error"]["error_code"] == "InvalidEvent"

    status, answer = signup(app, {"email": "ada@example.com", "plan": "pro"})
    assert status == 202 and answer["events"][0]["duplicate"] is False
    assert [e["key"] for e in app.get("/v1/events").get_json()["events"]] == ["ada@example.com"]


def test_a_trigger_that_crashes_is_named_not_quoted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    status, answer = signup(client(tmp_path), {"email": "crash@example.com"})

    assert status == 500
    assert answer["error"] == {
        "error_code": "TriggerFailed",
        "message": "The trigger sample/signup failed (RuntimeError); see the daemon's log",
    }
    assert "the sample trigger failed on purpose" in caplog.text  # the log has it, the sender does not
    status, answer = signup(client(tmp_path), {"email": "none@example.com"})  # no events at all
    assert (status, answer["error"]["error_code"]) == (500, "TriggerFailed")
    assert answer["error"]["message"] == "The trigger sample/signup returned something other than events"


def test_a_template_reads_the_event_and_nothing_else(tmp_path: Path) -> None:
    who = '{"who": {{ event.email | tojson }}, "plan": {{ event.plan | default("free") | tojson }}}'
    templated = SIGNUPS + f"template = '{who}'\n"
    escaping = SIGNUPS.replace("signups", "sneaky") + "template = '{{ event.__class__.__mro__ }}'\n"
    app = client(tmp_path, templated + escaping)

    assert signup(app, {"email": "ada@example.com"})[0] == 202
    status, answer = signup(app, {"email": "eve@example.com"}, path="sneaky")
    assert status == 400 and answer["error"]["error_code"] == "InvalidEvent"
    assert "the template failed" in answer["error"]["message"]


def test_the_wrong_token_and_unknown_subscriptions_are_refused(tmp_path: Path) -> None:
    app = client(tmp_path)

    assert signup(app, {"email": "a@example.com"}, token="nope")[1]["error_code"] == "InvalidSignature"
    status, answer = signup(app, {"email": "a@example.com"}, path="other")
    assert (status, answer["error"]["error_code"]) == (404, "SubscriptionNotFound")
    assert app.get("/v1/events/no-such-event").status_code == 404
    assert app.get("/v1/events/no-such-event").get_json()["error"]["error_code"] == "EventNotFound"
    assert app.get("/v1/events?state=lost").status_code == 400
    assert app.get("/v1/events?limit=0").status_code == 400


def test_a_subscription_that_cannot_run_is_left_out_and_named_by_readiness(tmp_path: Path) -> None:
    broken = SIGNUPS.replace("signups", "no_secret").replace('settings = { secret = "env:SIGNUP_TOKEN" }', "")
    missing = '[subscriptions.ghost]\ntrigger = "nowhere/webhook"\nmessage = "boo"\n'
    app = client(tmp_path, SIGNUPS + broken + missing)

    answer = app.get("/v1/readiness")
    assert answer.status_code == 503
    details = answer.get_json()["error"]["details"]
    problems = {p["component"]: p["detail"] for p in details if p["component"].startswith("subscription")}
    assert problems == {
        "subscription no_secret": "settings: (top level): 'secret' is a required property",
        "subscription ghost": "no ready connector offers trigger 'nowhere/webhook'",
    }
    assert signup(app, {"email": "a@example.com"})[0] == 202  # the others run


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('[subscriptions.a]\ntrigger = "http/webhook"\nmessage = "m"\n', "events.host_url must name"),
        (EVENTS + '[subscriptions."a b"]\ntrigger = "http/webhook"\nmessage = "m"\n', "a name is 1 to 64"),
        (EVENTS + '[subscriptions.a]\ntrigger = "webhook"\nmessage = "m"\n', "'<connector>/<trigger>'"),
        (EVENTS + '[subscriptions.a]\ntrigger = "http/webhook"\n', "subscriptions.a.message must be"),
        (
            EVENTS + '[subscriptions.a]\ntrigger = "http/webhook"\nmessage = "m"\npayload = { x = "body" }\n',
            "JSON pointers",
        ),
        (
            EVENTS
            + '[subscriptions.a]\ntrigger = "http/webhook"\nmessage = "m"\npayload = {}\ntemplate = "{}"\n',
            "payload or template, not both",
        ),
        (
            EVENTS + '[subscriptions.a]\ntrigger = "http/webhook"\nmessage = "m"\ninterval = 0\n',
            "interval must be positive",
        ),
        (
            EVENTS + '[subscriptions.a]\ntrigger = "http/webhook"\nmessage = "m"\nfilter = "x"\n',
            "unknown key(s) in [subscriptions.a]: filter",
        ),
        ('[events]\nhost_url = "ftp://host/v1.0"\n', "events.host_url"),
        ("[events]\nlease_seconds = 10.0\npoll_timeout = 30.0\n", "events.lease_seconds must be longer"),
        ('[events]\nexecution_mode = "later"\n', "events.execution_mode"),
        ('[events]\nhost_api_key = "env:NOT_SET_ANYWHERE"\n', "events.host_api_key"),
    ],
)
def test_a_subscription_or_events_setting_that_cannot_work_stops_the_daemon(
    tmp_path: Path, table: str, problem: str
) -> None:
    with pytest.raises(ConfigError, match=None) as raised:
        settings_from(tmp_path, table)
    assert problem in str(raised.value)


def test_an_isolated_connectors_webhook_is_subscribed_to(tmp_path: Path) -> None:
    """The isolation protocol carries webhook triggers: the subscription is bound and takes events."""
    isolated = f'[connectors.sample]\npython = "{sys.executable}"\nworkers = 1\n'
    config = tmp_path / "plugins.toml"
    config.write_text(TEST_CONFIG + isolated + EVENTS + SIGNUPS)
    with Daemon(config, ENVIRON, tmp_path / "daemon.log") as daemon:
        taken = requests.post(
            f"{daemon.url}/v1/inbound/sample/signup/signups",
            json={"email": "ada@example.com"},
            headers={"X-Webhook-Token": TOKEN},
            timeout=10,
        )
        shown = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()}

    assert shown["sample"]["mode"] == "isolated"
    assert taken.status_code == 202 and taken.json()["events"][0]["duplicate"] is False

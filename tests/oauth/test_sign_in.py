"""OAuth through the proxy against a real provider on 127.0.0.1, driven as a browser would.

The browser is a requests session that follows no redirect by itself: each
hop (host UI -> proxy -> provider -> proxy callback -> host) is taken by hand,
so every Location and cookie is checked on the way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask.testing import FlaskClient

from connector_proxy.sdk.testing import CallbackReceiver
from connector_proxy.testing import ServiceTaskHost
from tests.oauth_provider import OAuthProvider
from tests.support import SPIFF_SITE, Daemon, call, client_from, completed

HOST = "http://127.0.0.1:7000/v1.0/authentication/callback"  # where the host's UI wants the browser back
ENV = {"SAMPLE_TOKEN": "s3cr3t-token-value", "PROVIDER_SECRET": ""}


def config(provider: OAuthProvider, extra: str = "") -> str:
    return f"""
[oauth]
redirect_urls = ["http://127.0.0.1:7000/v1.0/"]
{extra}
[connectors.sample.config]
token = "env:SAMPLE_TOKEN"
provider_url = "{provider.url}"
client_id = "{provider.client.client_id}"
client_secret = "env:PROVIDER_SECRET"
[connectors.example.config]
provider_url = "{provider.url}"
client_id = "{provider.client.client_id}"
client_secret = "env:PROVIDER_SECRET"
"""


@pytest.fixture
def provider() -> Iterator[OAuthProvider]:
    running = OAuthProvider(["http://localhost/v1/auth/sample/Provider/callback"])
    ENV["PROVIDER_SECRET"] = running.client.client_secret
    yield running
    running.close()


@pytest.fixture
def client(tmp_path: Path, provider: OAuthProvider) -> FlaskClient:
    return client_from(tmp_path, config(provider), ENV)


def sign_in(client: FlaskClient, auth: str = "sample/Provider") -> tuple[Any, str]:
    """Start, consent at the provider, come back: the proxy's last answer and the provider's Location."""
    started = client.get(f"/v1/auth/{auth}?redirect_url={HOST}?tab=secrets")
    assert started.status_code == 302, started.get_json()
    consent = requests.get(started.headers["Location"], allow_redirects=False, timeout=5)
    back = consent.headers["Location"]
    parts = urlsplit(back)
    return client.get(f"{parts.path}?{parts.query}"), back


def token_set_of(location: str) -> dict[str, Any]:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == HOST
    query = parse_qs(parts.query)
    assert query["tab"] == ["secrets"]
    tokens: dict[str, Any] = json.loads(query["response"][0])
    return tokens


def test_auths_are_listed_in_the_hosts_shape(client: FlaskClient) -> None:
    listed = {entry["id"]: entry for entry in client.get("/v1/auths").get_json()}

    assert set(listed) == {"sample/Provider"}  # sample/Machine's token is the daemon's own: no sign-in
    assert listed["sample/Provider"]["parameters"] == []
    assert listed["sample/Provider"]["flow"] == "authorization_code"


def test_the_authorization_code_dance_with_pkce_ends_at_the_host(
    client: FlaskClient, provider: OAuthProvider
) -> None:
    started = client.get(f"/v1/auth/sample/Provider?redirect_url={HOST}?tab=secrets")
    asked = parse_qs(urlsplit(started.headers["Location"]).query)
    cookie = started.headers["Set-Cookie"]

    finished, _ = sign_in(client)
    tokens = token_set_of(finished.headers["Location"])

    assert started.headers["Location"].startswith(f"{provider.url}/authorize?")
    assert asked["code_challenge_method"] == ["S256"] and len(asked["state"][0]) == 43
    assert asked["redirect_uri"] == ["http://localhost/v1/auth/sample/Provider/callback"]
    assert asked["scope"] == ["profile read"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/v1/auth/" in cookie
    assert finished.status_code == 302 and finished.headers["Cache-Control"] == "no-store"
    assert tokens["access_token"] in provider.tokens and tokens["refresh_token"]
    assert tokens["expires_at"] > time.time() + 3000
    assert provider.token_requests[-1]["code_verifier"]  # the provider checked it against the challenge


def test_a_command_uses_the_tokens_and_refreshes_them_when_expired(
    client: FlaskClient, provider: OAuthProvider
) -> None:
    finished, _ = sign_in(client)
    tokens = token_set_of(finished.headers["Location"])

    fresh = completed(client, "sample/WhoAmI", token_set=json.dumps(tokens))
    expired = {**tokens, "expires_at": int(time.time()) - 10}
    renewed = call(client, "sample/WhoAmI", {"token_set": expired, "secret": "crm_tokens"})

    assert fresh["command_response"]["body"] == {"sub": "alice", "scope": "profile read"}
    assert renewed[0] == 200
    assert renewed[1]["auth"] == "crm_tokens"
    assert renewed[1]["api_response"]["body"]["sub"] == "alice"
    new_set = renewed[1]["refreshed_token_set"]
    assert new_set["access_token"] != tokens["access_token"] and new_set["expires_at"] > time.time()
    assert provider.tokens[tokens["access_token"]].revoked  # the provider rotated: the old set is dead


def host_takes(client: FlaskClient, host: ServiceTaskHost, command: str, payload: Any) -> Any:
    answer = client.post(f"/v1/do/{command}", json=payload)
    return host.take(command, answer.status_code, answer.get_data(as_text=True))


def test_after_a_refresh_the_host_keeps_in_the_result_what_it_keeps_without_one(
    client: FlaskClient, provider: OAuthProvider
) -> None:
    host = ServiceTaskHost()
    tokens = token_set_of(sign_in(client)[0].headers["Location"])
    plain = host_takes(client, host, "sample/WhoAmI", {"token_set": json.dumps(tokens), "secret": "crm"})
    expired = {**tokens, "expires_at": int(time.time()) - 10}
    refreshed = host_takes(client, host, "sample/WhoAmI", {"token_set": json.dumps(expired), "secret": "crm"})

    assert plain.state == refreshed.state == "completed"
    assert refreshed.result == plain.result  # the body, mimetype, status and operator_identifier, no more
    assert set(plain.result) == {"body", "mimetype", "http_status", "operator_identifier"}
    assert host.secrets["crm"]["access_token"] not in (tokens["access_token"], None)


def test_an_upstream_failure_after_a_refresh_fails_the_task_and_the_next_answer_carries_the_set(
    client: FlaskClient, provider: OAuthProvider
) -> None:
    host = ServiceTaskHost()
    tokens = token_set_of(sign_in(client)[0].headers["Location"])
    held = json.dumps({**tokens, "expires_at": int(time.time()) - 10})  # what the host's secret holds
    provider.userinfo_refuses = True
    without_refresh = host_takes(client, host, "sample/WhoAmI", {"token_set": json.dumps(tokens)})
    failed = host_takes(client, host, "sample/WhoAmI", {"token_set": held, "secret": "crm"})
    stored_on_failure = dict(host.secrets)
    provider.userinfo_refuses = False
    grants_before = len(provider.token_requests)
    next_call = host_takes(client, host, "sample/WhoAmI", {"token_set": held, "secret": "crm"})
    after = host_takes(client, host, "sample/WhoAmI", {"token_set": json.dumps(host.secrets["crm"])})

    assert without_refresh.state == failed.state == "failed"
    assert failed.error_code == without_refresh.error_code == "ServiceTaskHttpError401"
    assert stored_on_failure == {}  # the backend stops at the error, before it stores a set
    # the refresh token was rotated: the host's old set is dead, yet the next call works with the kept one
    assert provider.tokens[tokens["access_token"]].revoked
    assert next_call.state == "completed" and next_call.result["body"]["sub"] == "alice"
    assert len(provider.token_requests) == grants_before  # handed the kept set: no second refresh
    assert host.secrets["crm"]["access_token"] in provider.tokens
    assert not provider.tokens[host.secrets["crm"]["access_token"]].revoked
    assert after.state == "completed"


def test_a_set_renewed_in_a_job_is_kept_and_handed_over_by_the_next_answer(
    tmp_path: Path, client: FlaskClient, provider: OAuthProvider
) -> None:
    """A job's callback cannot carry a token set (the host stores none from it): the next synchronous
    call with the old set is handed the kept one and its answer carries it."""
    tokens = token_set_of(sign_in(client)[0].headers["Location"])
    held = json.dumps({**tokens, "expires_at": int(time.time()) - 10})
    path = tmp_path / "plugins.toml"
    jobs = '[jobs]\ncallback_allow = ["127.0.0.1"]\nallow_callback_loopback = true\n'
    path.write_text(config(provider, jobs))
    receiver = CallbackReceiver()
    host = ServiceTaskHost()
    try:
        with Daemon(path, ENV, tmp_path / "daemon.log") as daemon:
            accepted = requests.post(
                f"{daemon.url}/v1/do/sample/WhoAmI",
                json={"token_set": held, "secret": "crm", "spiff__callback_url": f"{receiver.url}/cb"},
                headers={"Prefer": "respond-async"},
                timeout=30,
            )
            [(_, delivered)] = receiver.wait_for(1)
            grants = len(provider.token_requests)
            after = host.call(daemon.url, "sample/WhoAmI", {"token_set": held, "secret": "crm"})
    finally:
        receiver.close()

    assert accepted.status_code == 202
    assert "refreshed_token_set" not in delivered and delivered["command_response"]["body"]["sub"] == "alice"
    assert provider.tokens[tokens["access_token"]].revoked  # the job rotated the set the host holds
    assert after.state == "completed" and len(provider.token_requests) == grants
    assert host.secrets["crm"]["access_token"] in provider.tokens


def test_a_client_credentials_token_never_leaves_the_daemon_and_is_kept_between_calls(
    client: FlaskClient, provider: OAuthProvider
) -> None:
    refused = client.get(f"/v1/auth/sample/Machine?redirect_url={HOST}?tab=secrets")
    first = completed(client, "sample/AsMachine")
    second = completed(client, "sample/AsMachine")

    assert refused.status_code == 403 and "Location" not in refused.headers
    assert refused.get_json()["error"]["error_code"] == "SignInNotOffered"
    assert first["error"] is None and first["command_response"]["body"]["scope"] == "read"
    grants = [r["grant_type"] for r in provider.token_requests]
    assert grants.count("client_credentials") == 1  # one token, kept for both calls, never handed out
    assert second["error"] is None


@pytest.mark.parametrize(
    "redirect",
    ["", "https://evil.example/v1.0/", "http://127.0.0.1:7000/v2/", "http://127.0.0.1:7000.evil/v1.0/x"],
)
def test_a_redirect_off_the_allowlist_is_refused_with_no_redirect(client: FlaskClient, redirect: str) -> None:
    answer = client.get(f"/v1/auth/sample/Provider?redirect_url={redirect}")

    assert answer.status_code == 400 and "Location" not in answer.headers
    assert answer.get_json()["error"]["error_code"] == "RedirectNotAllowed"


def test_a_callback_from_another_browser_or_twice_is_refused(client: FlaskClient, tmp_path: Path) -> None:
    started = client.get(f"/v1/auth/sample/Provider?redirect_url={HOST}")
    back = requests.get(started.headers["Location"], allow_redirects=False, timeout=5).headers["Location"]
    parts = urlsplit(back)
    callback = f"{parts.path}?{parts.query}"
    other_browser = client.application.test_client()

    name, _, value = started.headers["Set-Cookie"].split(";")[0].partition("=")

    stranger = other_browser.get(callback)
    first = client.get(callback)
    replay = client.get(callback)
    client.set_cookie(name, value, path="/v1/auth/")  # the cookie kept (captured) and sent again
    with_cookie = client.get(callback)

    assert stranger.status_code == 400 and stranger.get_json()["error"]["error_code"] == "OAuthStateInvalid"
    assert first.status_code == 302
    assert replay.status_code == 400 and replay.get_json()["error"]["error_code"] == "OAuthStateInvalid"
    assert with_cookie.status_code == 400 and "used once" in with_cookie.get_json()["error"]["message"]


def test_an_expired_sign_in_and_a_refusal(tmp_path: Path, provider: OAuthProvider) -> None:
    client = client_from(tmp_path, config(provider, "state_ttl = 1.0"), ENV)
    started = client.get(f"/v1/auth/sample/Provider?redirect_url={HOST}")
    back = requests.get(started.headers["Location"], allow_redirects=False, timeout=5).headers["Location"]
    # a duration, not an event: state_ttl (1 s) must pass; a callback cannot be polled (one in time succeeds)
    time.sleep(2.1)
    late = client.get(back.removeprefix("http://localhost"))
    provider.refuse = True
    refused, _ = sign_in(client)

    assert late.get_json()["error"]["error_code"] == "OAuthStateInvalid"
    assert refused.status_code == 403 and refused.get_json()["error"]["error_code"] == "OAuthDenied"
    assert "access_denied" in refused.get_json()["error"]["message"]


def test_an_unknown_auth_and_a_provider_that_refuses_the_client(
    tmp_path: Path, provider: OAuthProvider
) -> None:
    wrong_secret = {**ENV, "PROVIDER_SECRET": "not-the-secret"}
    client = client_from(tmp_path, config(provider), wrong_secret)

    unknown = client.get(f"/v1/auth/sample/Nope?redirect_url={HOST}")
    finished, _ = sign_in(client)

    assert unknown.status_code == 404 and unknown.get_json()["error"]["error_code"] == "AuthNotFound"
    assert finished.status_code == 502
    error = finished.get_json()["error"]
    assert error["error_code"] == "OAuthProviderError" and "invalid_client" in error["message"]
    assert "not-the-secret" not in json.dumps(finished.get_json())


def test_the_dance_through_the_daemon_with_a_legacy_auth_and_no_secret_logged_nor_replayed(
    tmp_path: Path, provider: OAuthProvider
) -> None:
    path = tmp_path / "plugins.toml"
    access_log = "[server]\naccess_log = true\n"  # request lines are logged, their query strings never
    path.write_text(config(provider, "") + '[auth]\napi_keys = ["env:PROXY_KEY"]\n' + access_log)
    daemon = Daemon(path, {**ENV, "PROXY_KEY": "proxy-key-123"}, tmp_path / "daemon.log", site=(SPIFF_SITE,))
    provider.client.redirect_uris.append(f"{daemon.url}/v1/auth/example/OAuth/callback")
    browser = requests.Session()
    try:
        daemon.wait_ready()
        listed = requests.get(
            f"{daemon.url}/v1/auths", headers={"Spiff-Connector-Proxy-Api-Key": "proxy-key-123"}
        )
        started = browser.get(
            f"{daemon.url}/v1/auth/example/OAuth?redirect_url={HOST}", allow_redirects=False, timeout=5
        )  # the browser sends no API key: the sign-in routes are open
        back = browser.get(started.headers["Location"], allow_redirects=False, timeout=5).headers["Location"]
        code = parse_qs(urlsplit(back).query)["code"][0]
        kept = browser.cookies.get_dict()  # an attacker who captured the cookie too
        finished = browser.get(back, allow_redirects=False, timeout=10)
        for name, value in kept.items():
            browser.cookies.set(name, value, path="/v1/auth/")
        replayed = browser.get(back, allow_redirects=False, timeout=10)
        machine = browser.get(
            f"{daemon.url}/v1/auth/sample/Machine?redirect_url={HOST}", allow_redirects=False
        )
        page = requests.get(f"{daemon.url}/", timeout=5)
    finally:
        daemon.stop()

    assert replayed.status_code == 400 and "used once" in replayed.json()["error"]["message"]
    assert machine.status_code == 403 and "Location" not in machine.headers  # the token never leaves
    assert machine.json()["error"]["error_code"] == "SignInNotOffered"
    assert page.headers["X-Frame-Options"] == "DENY"

    assert "example/OAuth" in [entry["id"] for entry in listed.json()]
    assert parse_qs(urlsplit(started.headers["Location"]).query)["scope"] == ["offline_access profile"]
    tokens = json.loads(parse_qs(urlsplit(finished.headers["Location"]).query)["response"][0])
    assert tokens["access_token"] in provider.tokens
    logged = daemon.log.read_text()
    assert "sign-in example/OAuth finished" in logged
    access = [json.loads(line) for line in logged.splitlines() if '"gunicorn.access"' in line]
    callbacks = [line for line in access if line["path"] == "/v1/auth/example/OAuth/callback"]
    assert [line["status"] for line in callbacks] == [302, 400]  # the replay refused
    for secret in (code, tokens["access_token"], tokens["refresh_token"], provider.client.client_secret):
        assert secret not in logged

"""[proxies.<name>] read and refused, and what a remote that never answered looks like: its catalog
state, readiness, the page, `check`, and a call for a connector it was named to serve."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from connector_proxy.config import ConfigError
from connector_proxy.sdk.testing import SilentServer, free_port
from tests.support import CLI, TEST_CONFIG, TEST_ENV, client_from, settings_from


def nobody_listens() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("api_key = 'x'\n", "proxies.old.url is required"),
        ("url = 'ftp://x'\n", "proxies.old.url must be an http(s) URL"),
        ("url = 'http://x'\nmode = 'teleport'\n", "proxies.old.mode must be one of forward, redirect"),
        ("url = 'http://x'\nredirect_status = 302\n", "redirect_status must be 307 or 308"),
        ("url = 'http://x'\ntimeout = 0\n", "proxies.old.timeout must be positive"),
        ("url = 'http://x'\nconnectors = 'sample'\n", "proxies.old.connectors must be a list of strings"),
        ("url = 'http://x'\napi_key = 'env:MISSING'\n", "proxies.old.api_key: "),
        ("url = 'http://x'\ncolour = 1\n", "unknown key(s) in [proxies.old]: colour"),
        ("url = 'http://x'\nmax_commands = 0\n", "proxies.old.max_commands must be at least 1"),
        ("url = 'http://x'\nmax_catalog_bytes = 10\n", "proxies.old.max_catalog_bytes must be at least 1024"),
    ],
)
def test_a_proxy_table_is_read_strictly(tmp_path: Path, table: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)):
        settings_from(tmp_path, f"[proxies.old]\n{table}")


def test_a_proxy_table_with_its_defaults(tmp_path: Path) -> None:
    proxy = settings_from(
        tmp_path, "[proxies.old]\nurl = 'http://legacy:7004/'\nexclude = ['xero']\n"
    ).proxies["old"]
    assert (proxy.url, proxy.mode, proxy.connectors, proxy.timeout) == (
        "http://legacy:7004",
        "forward",
        ("*",),
        44.0,
    )
    assert proxy.takes("smtp") and not proxy.takes("xero")


def test_a_remote_that_never_answered(tmp_path: Path) -> None:
    url = nobody_listens()
    config = (
        TEST_CONFIG
        + f"[connectors.sample]\nenabled = false\n[proxies.old]\nurl = '{url}'\nconnectors = ['sample']\n"
    )
    client = client_from(tmp_path, config)

    status = client.get("/v1/proxies").get_json()[0]
    assert (status["name"], status["state"], status["read_at"]) == ("old", "unreachable", None)
    assert "connection refused" in status["detail"]
    answer = client.post("/v1/do/sample/Greet", json={"name": "Ada"})
    assert answer.status_code == 503 and answer.get_json()["error"]["error_code"] == "ProxyUnavailable"
    assert "has not been read yet" in answer.get_json()["error"]["message"]
    assert client.post("/v1/do/nobody/Greet", json={}).status_code == 404  # not named: as before
    problems = client.get("/v1/readiness").get_json()["error"]["details"]  # the site's broken connectors
    assert {"component": "proxy old", "state": "unreachable"}.items() <= next(
        p for p in problems if p["component"] == "proxy old"
    ).items()
    # with nothing else wrong, a remote's outage is named but never a 503: the daemon serves on
    only_ours = client_from(tmp_path, f"[discovery]\nenable_unlisted = false\n[proxies.old]\nurl = '{url}'\n")
    ready = only_ours.get("/v1/readiness")
    assert ready.status_code == 200 and ready.get_json()["degraded"][0]["component"] == "proxy old"
    page = client.get("/").get_data(as_text=True)
    assert 'id="proxies"' in page and "<code>old</code>" in page and "unreachable" in page

    checked = subprocess.run(
        [*CLI, "check", "--config", str(tmp_path / "plugins.toml")],
        env={**os.environ, **TEST_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 1 and "[proxies.old]: unreachable" in checked.stderr


def test_remotes_that_never_answer_hold_start_up_for_the_slowest_only(tmp_path: Path) -> None:
    with SilentServer() as first, SilentServer() as second:  # they take the connection, never answer
        config = f"[proxies.one]\nurl = '{first.url}'\n[proxies.two]\nurl = '{second.url}'\n"
        began = time.monotonic()
        client = client_from(tmp_path, config)
        took = time.monotonic() - began
        statuses = client.get("/v1/proxies").get_json()
    assert 5 <= took < 9  # each read is cut at 5 s, and they are read at once (one after the other: 10 s)
    assert [(s["name"], s["state"]) for s in statuses] == [("one", "unreachable"), ("two", "unreachable")]
    assert all("gave no answer within 5 s" in s["detail"] for s in statuses)

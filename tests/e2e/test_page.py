"""The catalog page at ``/`` in a real headless browser (Debian's chromium driven by Playwright),
served by the real daemon under gunicorn: sign in with the API key, see the built-in connectors,
try a command against a local upstream, read the 400 that names a bad parameter, and see an envelope
holding the upstream's error as a failure."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from pytest_httpserver import HTTPServer

from tests.support import TEST_ENV, Daemon

CHROMIUM = Path("/usr/bin/chromium")
# a closed network: no background connections, no component updates (see the machine's notes)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY = "page-key-for-the-tests"
CONFIG = f"""
[auth]
api_keys = ["{KEY}"]
[discovery]
enable_unlisted = false
[connectors.aws]
[connectors.os]
[connectors.http.config.destinations]
allow_loopback = true
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium: .ci/run installs it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def upstream() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/hello").respond_with_json({"hi": "there"})
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def page(tmp_path: Path, browser: Browser) -> Iterator[tuple[Page, Daemon]]:
    config = tmp_path / "plugins.toml"
    config.write_text(CONFIG + f'[jobs]\nsqlite_path = "{tmp_path / "jobs.sqlite3"}"\n')
    with Daemon(config, TEST_ENV, tmp_path / "daemon.log") as daemon:
        opened = browser.new_page()
        yield opened, daemon
        opened.close()


def test_signing_in_shows_the_built_in_connectors_and_their_commands(page: tuple[Page, Daemon]) -> None:
    browser_page, daemon = page
    browser_page.goto(f"{daemon.url}/")
    browser_page.fill("#api_key", "not-the-key")
    browser_page.click("text=Sign in")
    refused = browser_page.locator("[role=alert]").inner_text()
    browser_page.fill("#api_key", KEY)
    browser_page.click("text=Sign in")
    connectors = browser_page.locator("#connectors").inner_text()

    assert refused == "That key matches no configured key."
    for name in ("http", "aws", "os"):
        assert f"{name}\tready" in connectors
    errors = browser_page.locator('article[id="http/GetRequestV2"] table.errors').inner_text()
    assert "Timeout\t504\tyes" in errors  # the code, its status, transient: which boundary events to draw
    browser_page.click("text=Check os")  # the connector's live check, run from the page
    checked = browser_page.locator("#connectors .outcome", has_text=re.compile(r"^ok: ")).inner_text()
    assert checked == "ok: 0 root(s) readable, 0 program(s) executable"
    browser_page.fill("#q", "getitem")  # filtered as it is typed
    assert browser_page.locator('article[id="http/GetRequestV2"]').is_hidden()
    assert browser_page.locator('article[id="aws/GetItem"]').is_visible()


def test_the_try_it_form_shows_the_envelope_and_a_400_naming_the_parameter(
    page: tuple[Page, Daemon], upstream: HTTPServer
) -> None:
    browser_page, daemon = page
    browser_page.goto(f"{daemon.url}/")
    browser_page.fill("#api_key", KEY)
    browser_page.click("text=Sign in")
    command = browser_page.locator('article[id="http/GetRequestV2"]')
    answer = command.locator(".answer")

    command.locator("textarea").fill(json.dumps({"url": upstream.url_for("/hello")}))
    command.locator("button").click()
    # a locator waits in Playwright's own world; a string predicate is eval'd, which the page's CSP refuses
    command.locator(".answer", has_text=re.compile(r"^answered 200")).wait_for()
    ok = answer.inner_text()
    command.locator("textarea").fill(json.dumps({"url": upstream.url_for("/hello"), "attempts": 99}))
    command.locator("button").click()
    command.locator(".answer", has_text=re.compile(r"^failed: InvalidParameters")).wait_for()
    refused = answer.inner_text()
    command.locator("textarea").fill(json.dumps({"url": upstream.url_for("/missing")}))
    command.locator("button").click()
    command.locator(".answer", has_text=re.compile(r"^failed: HttpError")).wait_for()
    upstream_error = answer.inner_text()
    shown_as_error = "error" in (answer.get_attribute("class") or "")

    assert ok.startswith("answered 200") and json.loads(ok.split("\n", 1)[1])["command_response"]["body"] == {
        "hi": "there"
    }
    envelope = json.loads(refused.split("\n", 1)[1])
    assert (
        envelope["error"]["error_code"] == "InvalidParameters" and "attempts" in envelope["error"]["message"]
    )
    assert refused.split("\n", 1)[0].endswith("(the proxy answered 400)")
    # the proxy answered 200, but the envelope holds the upstream's error: shown as the failure it is
    assert upstream_error.split("\n", 1)[0].endswith("(the proxy answered 200)") and shown_as_error


MANY = """
from typing import Annotated, Literal

from connector_proxy.sdk import Connector

many = Connector("many", description="Thirty commands, to fill the page.")
for _n in range(30):
    def _command(ctx, size: Annotated[int, {"minimum": 1, "maximum": 9}] = 1,
                 colour: Literal["red", "blue"] = "red") -> dict:
        return {"size": size, "colour": colour}
    many.command(f"Fill{_n:02d}")(_command)
"""


def test_a_catalog_of_sixty_commands_has_an_index_to_jump_from_and_a_search(
    tmp_path: Path, browser: Browser
) -> None:
    site = tmp_path / "site"
    (site / "many-0.1.dist-info").mkdir(parents=True)
    (site / "many-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: many\nVersion: 0.1\n")
    (site / "many-0.1.dist-info" / "entry_points.txt").write_text(
        "[connector_proxy.connectors]\nmany = many_commands:many\n"
    )
    (site / "many_commands.py").write_text(MANY)
    config = tmp_path / "plugins.toml"
    config.write_text(CONFIG + f'[connectors.many]\n[jobs]\nsqlite_path = "{tmp_path / "jobs.sqlite3"}"\n')
    with Daemon(config, TEST_ENV, tmp_path / "daemon.log", site=(site,)) as daemon:
        browser_page = browser.new_page()
        try:
            browser_page.goto(f"{daemon.url}/")
            browser_page.fill("#api_key", KEY)
            browser_page.click("text=Sign in")
            browser_page.wait_for_load_state("load")  # the click waits for the page to start, not to end
            commands = browser_page.locator("article.command").count()
            height = browser_page.viewport_size["height"] if browser_page.viewport_size else 720
            browser_page.click('#index a[data-connector="os"]')
            landed = browser_page.locator("#connector-os h2").bounding_box()
            plain = browser_page.locator('article[id="http/GetRequest"] [data-run-by-host]').inner_text()
            ranges = browser_page.locator('article[id="many/Fill07"] td.allowed').all_inner_texts()
            browser_page.fill("#q", "getitem")  # the index follows the search
            http_entry_hidden = browser_page.locator('#index [data-connector="http"]').is_hidden()
            aws_entry_visible = browser_page.locator('#index [data-connector="aws"]').is_visible()
            http_hidden = browser_page.locator("#connector-http").is_hidden()
            url = browser_page.url
        finally:
            browser_page.close()

    assert commands >= 60
    assert url.endswith("#connector-os")
    # the section is on screen (a jump may land a fraction of a pixel above the top: -0.05 in CI once)
    assert landed is not None and -1 < landed["y"] < height
    assert "run by a SpiffWorkflow backend itself" in plain and "http/GetRequestV2" in plain
    assert ranges == ["≥ 1, ≤ 9", 'one of "red", "blue"']
    assert http_entry_hidden and aws_entry_visible and http_hidden

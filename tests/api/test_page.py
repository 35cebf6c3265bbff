"""The catalog page without a browser: what works without JavaScript, and what the session guards."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from jsonschema import Draft202012Validator

from connector_proxy.calls.validation import closed
from tests.support import TEST_CONFIG, client_from

KEYED = TEST_CONFIG + '[auth]\napi_keys = ["page-key-42"]\n'


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_without_keys_the_page_lists_and_tries_without_javascript(tmp_path: Path) -> None:
    client = client_from(tmp_path)
    page = client.get("/").get_data(as_text=True)
    tried = client.post(
        "/page/try/sample/Greet", data={"parameters": '{"name": "Ada"}', "csrf": csrf_of(page)}
    )

    assert 'id="sample/Greet"' in page and "NotWelcome" in page
    assert tried.status_code == 200 and tried.mimetype == "text/html"
    assert "Hello Ada" in tried.get_data(as_text=True)


def test_with_keys_the_page_asks_once_and_the_session_remembers(tmp_path: Path) -> None:
    client = client_from(tmp_path, KEYED)
    asked = client.get("/").get_data(as_text=True)
    wrong = client.post("/page/sign-in", data={"api_key": "nope"})
    right = client.post("/page/sign-in", data={"api_key": "page-key-42"})
    page = client.get("/?q=greet").get_data(as_text=True)

    assert 'name="api_key"' in asked and 'id="sample/Greet"' not in asked
    assert wrong.status_code == 401 and "matches no configured key" in wrong.get_data(as_text=True)
    assert right.status_code == 302 and "page-key-42" not in right.headers["Location"]
    assert 'id="sample/Greet"' in page and 'id="sample/Crash"' not in page  # ?q= filters without script
    assert "page-key-42" not in page


def test_a_try_needs_the_session_and_its_csrf_token(tmp_path: Path) -> None:
    client = client_from(tmp_path, KEYED)
    stranger = client.post("/page/try/sample/Greet", data={"parameters": "{}", "csrf": "x"})
    client.post("/page/sign-in", data={"api_key": "page-key-42"})
    token = csrf_of(client.get("/").get_data(as_text=True))
    forged = client.post("/page/try/sample/Greet", data={"parameters": "{}", "csrf": "forged"})
    bad_json = client.post("/page/try/sample/Greet", data={"parameters": "{", "csrf": token})
    invalid = client.post(
        "/page/try/sample/Greet",
        data={"parameters": '{"times": 9}', "csrf": token},
        headers={"Accept": "application/json"},
    )

    assert stranger.status_code == 401 and forged.status_code == 401
    assert bad_json.status_code == 400 and bad_json.get_json()["error"]["error_code"] == "InvalidRequestBody"
    answer = invalid.get_json()
    assert answer["status"] == 400 and "name" in answer["envelope"]["error"]["message"]


def test_the_page_runs_only_its_own_script_and_is_never_cached(tmp_path: Path) -> None:
    answer = client_from(tmp_path).get("/")
    policy = answer.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)

    assert nonce is not None and f'<script nonce="{nonce.group(1)}">' in answer.get_data(as_text=True)
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "no-store"


def test_every_try_it_form_starts_from_parameters_that_validate(tmp_path: Path) -> None:
    """The form is filled from each parameter's examples, default or first allowed value."""
    client = client_from(tmp_path)
    page = client.get("/").get_data(as_text=True)
    forms = re.findall(r'<textarea id="parameters-([^"]+)" name="parameters">([^<]*)</textarea>', page)
    refused = {}
    for command, text in forms:
        body = json.loads(html.unescape(text))
        answer = client.get(f"/v1/commands/{command}").get_json()
        problems = list(closed(answer["parameters_schema"], Draft202012Validator).iter_errors(body))
        if problems:
            refused[command] = [p.message for p in problems]

    assert len(forms) > 20 and refused == {}


def test_the_page_has_an_index_ranges_enums_and_marks_what_the_host_runs(tmp_path: Path) -> None:
    client = client_from(tmp_path)
    page = client.get("/").get_data(as_text=True)
    filtered = client.get("/?q=greet").get_data(as_text=True)
    greet = page[page.index('id="sample/Greet"') : page.index("</article>", page.index('id="sample/Greet"'))]
    plain = page[
        page.index('id="http/GetRequest"') : page.index("</article>", page.index('id="http/GetRequest"'))
    ]
    v2 = page[
        page.index('id="http/GetRequestV2"') : page.index("</article>", page.index('id="http/GetRequestV2"'))
    ]

    index = page[page.index('<nav id="index"') : page.index("</nav>", page.index('<nav id="index"'))]
    for connector in ("http", "sample", "os", "aws"):
        assert f'href="#connector-{connector}"' in index and f'id="connector-{connector}"' in page
    assert re.search(r"sample <span[^>]*>\(\d+\)</span>", index)
    assert '<td class="allowed">≥ 1, ≤ 5</td>' in greet
    assert '<td class="allowed">one of "plain", "loud"</td>' in html.unescape(greet)
    assert "data-run-by-host" in plain and "models call <code>http/GetRequestV2</code>" in plain
    assert "data-run-by-host" not in v2
    assert re.search(r'<span class="muted" data-connector="http">http \(0 of \d+\)</span>', filtered)
    assert re.search(r"sample <span[^>]*>\(\d+ of \d+\)</span>", filtered)

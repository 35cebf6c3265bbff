"""The catalog page's session through the real daemon: it ends when its key is rotated out (SIGHUP),
after auth.page_session_seconds, and at sign-out."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import requests

from tests.support import TEST_CONFIG, TEST_ENV, Daemon, wait_until

HEAD = '[server]\nworkers = 1\n[oauth]\nsession_secret = "a-session-secret-kept-across-reloads"\n'


def _config(path: Path, key: str, seconds: float = 3600) -> None:
    path.write_text(HEAD + f'[auth]\napi_keys = ["{key}"]\npage_session_seconds = {seconds}\n' + TEST_CONFIG)


def _signed_in(daemon: Daemon, key: str) -> tuple[requests.Session, str]:
    browser = requests.Session()
    browser.post(f"{daemon.url}/page/sign-in", data={"api_key": key}, timeout=10)
    page = browser.get(f"{daemon.url}/", timeout=10).text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, page[:300]
    return browser, found.group(1)


def _try(daemon: Daemon, browser: requests.Session, csrf: str) -> int:
    form = {"parameters": '{"name": "Ada"}', "csrf": csrf}
    answer = browser.post(
        f"{daemon.url}/page/try/sample/Greet", data=form, headers={"Accept": "application/json"}, timeout=10
    )
    return answer.status_code


def test_a_session_ends_when_its_key_is_rotated_out(tmp_path: Path) -> None:
    config = tmp_path / "plugins.toml"
    _config(config, "old-key-0123456789")
    with Daemon(config, TEST_ENV, tmp_path / "daemon.log") as daemon:
        browser, csrf = _signed_in(daemon, "old-key-0123456789")
        before = _try(daemon, browser, csrf)
        browser.close()  # a kept-alive connection would hold a worker of before the reload
        old_workers = set(daemon.worker_pids())
        _config(config, "new-key-0123456789")
        os.kill(daemon.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while not (workers := set(daemon.worker_pids())) or workers & old_workers:
            assert time.monotonic() < deadline, "the workers of before the reload never left"
            time.sleep(0.1)  # until they have, a kept-alive connection may still reach one
        after = _try(daemon, browser, csrf)
        fresh, fresh_csrf = _signed_in(daemon, "new-key-0123456789")
        renewed = _try(daemon, fresh, fresh_csrf)

    assert (before, after, renewed) == (200, 401, 200)


def test_a_session_expires_and_can_be_closed(tmp_path: Path) -> None:
    config = tmp_path / "plugins.toml"
    _config(config, "page-key-0123456789", seconds=2)
    with Daemon(config, TEST_ENV, tmp_path / "daemon.log") as daemon:
        signing_in = time.time()
        browser, csrf = _signed_in(daemon, "page-key-0123456789")
        fresh = _try(daemon, browser, csrf)
        expired = wait_until(lambda: (status := _try(daemon, browser, csrf)) == 401 and status, 20, "expiry")
        assert time.time() >= signing_in + 2  # not before page_session_seconds
        other, other_csrf = _signed_in(daemon, "page-key-0123456789")
        forged_out = other.post(f"{daemon.url}/page/sign-out", data={"csrf": "forged"}, timeout=10)
        still = _try(daemon, other, other_csrf)
        other.post(f"{daemon.url}/page/sign-out", data={"csrf": other_csrf}, timeout=10)
        signed_out = _try(daemon, other, other_csrf)

    assert (fresh, expired) == (200, 401)
    assert forged_out.status_code == 401 and still == 200
    assert signed_out == 401

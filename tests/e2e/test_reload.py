"""SIGHUP through the real daemon under gunicorn: the configuration and connectors are read again
while a client keeps calling, no call refused or failed; a bad file is refused and the running
configuration keeps serving; readiness follows what was loaded."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

from tests.support import TEST_ENV, Daemon

SAMPLE = '[connectors.sample.config]\ntoken = "env:SAMPLE_TOKEN"\ngreeting = "{greeting}"\n'


class ClientLoop:
    """Threads calling Greet on fresh connections until stopped, keeping every outcome."""

    def __init__(self, url: str, threads: int = 2, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.outcomes: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                answer = requests.post(
                    f"{self.url}/v1/do/sample/Greet", json={"name": "Ada"}, headers=self.headers, timeout=10
                )
                body = answer.json()
                outcome = (
                    body["command_response"]["body"]["greeting"] if answer.ok else f"{answer.status_code}"
                )
            except Exception as error:  # a refused or cut connection is what this test is about
                outcome = f"failed: {type(error).__name__}: {error}"
            self.outcomes.append(outcome)

    def wait_for(self, condition: Callable[[list[str]], bool], seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not condition(self.outcomes):
            assert time.monotonic() < deadline, f"waited {seconds} s; last outcomes {self.outcomes[-3:]}"
            time.sleep(0.05)

    def stop(self) -> list[str]:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)
        return self.outcomes


def ready(daemon: Daemon) -> requests.Response:
    return requests.get(f"{daemon.url}/v1/readiness", timeout=5)


def wait_in_log(daemon: Daemon, text: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while text not in daemon.log.read_text():
        assert time.monotonic() < deadline, f"{text!r} never logged"
        time.sleep(0.05)


def test_sighup_reloads_under_load_and_refuses_a_bad_configuration(tmp_path: Path) -> None:
    config = tmp_path / "plugins.toml"
    head = f'[server]\nworkers = 2\n[jobs]\nsqlite_path = "{tmp_path / "jobs.sqlite3"}"\n'
    only_listed = "[discovery]\nenable_unlisted = false\n"
    config.write_text(head + only_listed + SAMPLE.format(greeting="Hello"))
    with Daemon(config, TEST_ENV, tmp_path / "daemon.log") as daemon:
        clients = ClientLoop(daemon.url)
        clients.wait_for(lambda seen: len(seen) > 20)

        config.write_text(head + only_listed + SAMPLE.format(greeting="Howdy"))
        os.kill(daemon.process.pid, signal.SIGHUP)
        clients.wait_for(lambda seen: seen[-1] == "Howdy Ada")
        assert ready(daemon).status_code == 200

        config.write_text(head + "[nonsense]\n")
        os.kill(daemon.process.pid, signal.SIGHUP)
        wait_in_log(daemon, "reload refused")
        settled = len(clients.outcomes)
        clients.wait_for(lambda seen: len(seen) > settled + 20)
        assert ready(daemon).status_code == 200

        # every installed connector, the tests' broken ones among them: readiness names them
        config.write_text(head + SAMPLE.format(greeting="Howdy"))
        os.kill(daemon.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while (answer := ready(daemon)).status_code == 200:
            assert time.monotonic() < deadline, "readiness never saw the broken connectors"
            time.sleep(0.05)
        outcomes = clients.stop()

    assert answer.status_code == 503
    assert "connector broken" in {p["component"] for p in answer.json()["error"]["details"]}
    assert "unknown section(s): nonsense" in daemon.log.read_text()
    failures = [outcome for outcome in outcomes if outcome not in ("Hello Ada", "Howdy Ada")]
    assert not failures, failures[:5]
    assert outcomes.count("Howdy Ada") > 40 and outcomes.count("Hello Ada") > 20
    # after the refused reload, the running configuration answered on
    assert "Hello Ada" not in outcomes[settled:]

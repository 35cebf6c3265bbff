"""An isolated connector's poller, through the real daemon: each poll runs in the connector's worker
under the daemon's lease and cursor; the daemon stores the events, delivers them to the host once
each, and has the worker acknowledge them."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import requests

from connector_proxy.testing import MessageHost
from tests.support import TEST_CONFIG, TEST_ENV, Daemon, polled_again


def test_an_isolated_poller_runs_in_its_worker_and_each_event_reaches_the_host_once(tmp_path: Path) -> None:
    acknowledged = tmp_path / "acknowledged.txt"
    config = tmp_path / "plugins.toml"
    with MessageHost() as host:
        config.write_text(
            "[server]\nworkers = 1\n"
            + TEST_CONFIG
            + f'[connectors.sample]\npython = "{sys.executable}"\nworkers = 1\n'
            + f'[events]\nhost_url = "{host.url}"\n'
            + '[subscriptions.ticks]\ntrigger = "sample/ticks"\nmessage = "tick"\ninterval = 0.2\n'
            + f'settings = {{ count = 5, acknowledged = "{acknowledged}" }}\n'
            + 'payload = { n = "/n", pid = "/pid" }\n'
        )
        with Daemon(config, TEST_ENV, tmp_path / "daemon.log") as daemon:
            messages = host.wait_for(5)
            deadline = time.monotonic() + 10
            while len(acknowledged.read_text().splitlines() if acknowledged.exists() else []) < 5:
                assert time.monotonic() < deadline, "the worker never acknowledged every event"
                time.sleep(0.05)
            polled_again(daemon.url, "ticks")  # two more polls: nothing new, nothing repeated
            shown = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()}
            daemon_pids = {daemon.process.pid, *daemon.worker_pids()}

    assert shown["sample"]["mode"] == "isolated"
    assert sorted(m.payload["n"] for m in host.messages) == [0, 1, 2, 3, 4]  # each once
    polled_in = {m.payload["pid"] for m in messages}
    acked_in = {int(line.split()[1]) for line in acknowledged.read_text().splitlines()}
    assert polled_in == acked_in and not polled_in & daemon_pids  # in the connector's worker
    assert sorted(line.split()[0] for line in acknowledged.read_text().splitlines()) == [
        f"tick-{n}" for n in range(5)
    ]

"""What isolation costs per request: a command, a typeahead request and a webhook, in-process and isolated.

    .venv/bin/python -m bench.isolation [--requests 400]

One daemon (one gevent worker) serves the trivial ``bench`` connector in-process and its twin
``bench_isolated`` in one worker process of its own. Each kind of request is sent ``--requests``
times, one after another, to each; the CPU the daemon and every process below it used, divided by
the requests, is the cost of one. Typeahead answers are not cached here
(``limits.typeahead_cache_seconds = 0``); each webhook body is new (its key is its hash).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import requests

from bench.procstats import cpu_seconds, descendants
from bench.sites import write_site
from connector_proxy.testing import MessageHost, RunningDaemon

TOKEN = "bench-webhook-token-0123456789"  # noqa: S105 - the bench's own subscriptions
CONFIG = """
[server]
workers = 1
log_level = "warning"
[limits]
typeahead_cache_seconds = 0
[discovery]
enable_unlisted = false
[jobs]
sqlite_path = "{folder}/jobs.sqlite3"
[events]
host_url = "{host}"
[connectors.bench]
enabled = true
[connectors.bench.typeahead]
letters = "bench.letters"
[connectors.bench_isolated]
python = "{python}"
workers = 1
[connectors.bench_isolated.typeahead]
letters = "bench_isolated.letters"
[subscriptions.ping]
trigger = "bench/ping"
message = "ping"
settings = {{ secret = "{token}" }}
[subscriptions.ping_isolated]
trigger = "bench_isolated/ping"
message = "ping"
settings = {{ secret = "{token}" }}
"""


def cost(daemon: RunningDaemon, send: Callable[[int], None], count: int) -> float:
    """Milliseconds of CPU one request costs the daemon and its isolated workers."""
    pids = [daemon.process.pid, *descendants(daemon.process.pid)]
    send(-1)  # warm: the first request of a kind pays for what is made once
    before = cpu_seconds(pids)
    for n in range(count):
        send(n)
    return (cpu_seconds(pids) - before) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400)
    count = parser.parse_args().requests
    with tempfile.TemporaryDirectory() as folder, MessageHost() as host:
        site = write_site(Path(folder) / "site", 0)
        config = Path(folder) / "plugins.toml"
        config.write_text(CONFIG.format(folder=folder, host=host.url, python=sys.executable, token=TOKEN))
        with RunningDaemon(config, site=(site,)) as daemon:
            session = requests.Session()
            rows = []
            for connector in ("bench", "bench_isolated"):
                kinds = {
                    "command": lambda n, c=connector: _ok(
                        session.post(f"{daemon.url}/v1/do/{c}/Echo", json={"text": str(n)}, timeout=10)
                    ),
                    "typeahead": lambda n, c=connector: _ok(
                        session.get(f"{daemon.url}/v1/typeahead/{c}.letters?prefix=a", timeout=10)
                    ),
                    "webhook": lambda n, c=connector: _ok(
                        session.post(
                            f"{daemon.url}/v1/inbound/{c}/ping",
                            data=f'{{"n": {n}, "c": "{c}"}}',
                            headers={"X-Webhook-Token": TOKEN, "Content-Type": "application/json"},
                            timeout=10,
                        )
                    ),
                }
                rows.append((connector, {kind: cost(daemon, send, count) for kind, send in kinds.items()}))
    (_, inside), (_, isolated) = rows
    print(
        f"CPU per request, ms ({count} requests of each kind, one after another; `python -m bench.isolation`)"
    )
    print()
    print("| request | in-process | isolated | isolation costs |")
    print("|---|---|---|---|")
    for kind in inside:
        print(
            f"| {kind} | {inside[kind]:.2f} | {isolated[kind]:.2f} | {isolated[kind] - inside[kind]:+.2f} |"
        )


def _ok(answer: requests.Response) -> None:
    if answer.status_code >= 300:
        raise RuntimeError(f"{answer.request.method} {answer.url}: {answer.status_code} {answer.text[:200]}")


if __name__ == "__main__":
    main()

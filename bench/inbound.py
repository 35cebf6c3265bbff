"""Inbound events: webhook events accepted and stored per second, and the delay to their delivery.

    .venv/bin/python -m bench.inbound [--duration 5] [--concurrency 32] [--rate 200] [--write FILE]

The daemon runs as shipped (4 gevent workers, the SQLite store) with one ``http/webhook``
subscription (shared-token verification, a JSON-pointer payload) delivering to a
``MessageHost`` on 127.0.0.1. Throughput: wrk (or Python threads) posts distinct events for
``--duration`` seconds; every 202 is an event committed to the SQLite file (WAL), and the
file's count is checked against them. Delay: events posted at a steady ``--rate`` carry their
send time; the host records when each message arrives; the report gives p50 and p99.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench import load
from connector_proxy.testing import Message, MessageHost, RunningDaemon

TOKEN = "bench-webhook-token-0123456789"  # noqa: S105 - the bench's own subscription
PATH = "/v1/inbound/http/webhook/bench"
CONFIG = """
[server]
workers = 4
log_level = "warning"
[discovery]
enable_unlisted = false
[connectors.http]
enabled = true
[jobs]
sqlite_path = "{folder}/jobs.sqlite3"
[events]
host_url = "{host}"
[subscriptions.bench]
trigger = "http/webhook"
message = "bench_event"
settings = {{ verify = "token", secret = "{token}" }}
payload = {{ n = "/body/n", sent = "/body/sent" }}
"""
# each wrk thread numbers its own events; the run's prefix keeps runs apart
WRK_SCRIPT = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  prefix = args[1]
  counter = 0
end
function request()
  counter = counter + 1
  local headers = {{["Content-Type"] = "application/json", ["X-Webhook-Token"] = "{token}",
    ["X-Webhook-Id"] = prefix .. "-" .. tid .. "-" .. counter}}
  local id = prefix .. "-" .. tid .. "-" .. counter
  return wrk.format("POST", "{path}", headers, '{{"n": ' .. counter .. ', "sent": 0, "id": "' .. id .. '"}}')
end
"""


@dataclass(frozen=True)
class Figures:
    accepted_per_s: float
    delivered_per_s: float  # the burst's events delivered, over the time from its start to the last
    accepted: int
    stored: int
    failures: int
    p50_accept_ms: float
    p99_accept_ms: float
    delay_rate: float
    delay_p50_ms: float
    delay_p99_ms: float
    delivered: int
    generator: str


def run(duration: float, concurrency: int, rate: float, tools: bool = True) -> Figures:
    with tempfile.TemporaryDirectory() as folder, MessageHost() as host:
        config = Path(folder) / "plugins.toml"
        config.write_text(CONFIG.format(folder=folder, host=host.url, token=TOKEN))
        with RunningDaemon(config) as daemon:
            started = time.time()
            burst = _burst(daemon.url, concurrency, duration, tools)
            stored = _stored(Path(folder) / "jobs.sqlite3")
            host.wait_for(stored, seconds=300)  # the backlog drains before the delay is measured
            drained = max(m.arrived for m in host.messages) - started
            before = len(host.messages)
            delays = _steady(daemon.url, host, rate, duration)
            delivered = len(host.messages) - before
    return Figures(
        accepted_per_s=burst.rate,
        delivered_per_s=len(host.messages[:stored]) / drained,
        accepted=burst.requests - burst.failures,
        stored=stored,
        failures=burst.failures,
        p50_accept_ms=burst.p50_ms,
        p99_accept_ms=burst.p99_ms,
        delay_rate=rate,
        delay_p50_ms=_percentile(delays, 50),
        delay_p99_ms=_percentile(delays, 99),
        delivered=delivered,
        generator=load.generator(tools),
    )


def _burst(url: str, concurrency: int, seconds: float, tools: bool) -> load.Figures:
    if not (tools and shutil.which("wrk")):
        return _threads(url, concurrency, seconds)
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "events.lua"
        script.write_text(WRK_SCRIPT.format(token=TOKEN, path=PATH))
        command = [
            "wrk",
            "-t2",
            f"-c{concurrency}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "--timeout",
            "30s",
        ]
        output = subprocess.run(
            [*command, "-s", str(script), url, "--", uuid.uuid4().hex[:8]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return load.parse_wrk(output)


def _threads(url: str, concurrency: int, seconds: float) -> load.Figures:
    """Without wrk: Python threads on keep-alive connections, each event its own id."""
    samples: list[float] = []
    failures = [0]
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()

    def client(slot: int) -> None:
        connection = _connection(url)
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            started = time.perf_counter()
            status = _post(connection, f"t{slot}-{n}", {"n": n, "sent": 0})
            with lock:
                samples.append((time.perf_counter() - started) * 1000)
                failures[0] += status != 202

    started = time.monotonic()
    workers = [threading.Thread(target=client, args=(slot,)) for slot in range(concurrency)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    spent = time.monotonic() - started
    return load.Figures(len(samples), spent, _percentile(samples, 50), _percentile(samples, 99), failures[0])


def _steady(url: str, host: MessageHost, rate: float, seconds: float) -> list[float]:
    """Post at ``rate`` events a second; each message's arrival at the host minus its send time, ms."""
    connection = _connection(url)
    count = int(rate * seconds)
    start = time.time()
    for n in range(count):
        time.sleep(max(0.0, start + n / rate - time.time()))
        _post(connection, f"steady-{n}", {"n": n, "sent": time.time()})
    deadline = time.monotonic() + 60
    arrived: list[Message] = []
    while len(arrived) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        arrived = [m for m in host.messages if m.payload.get("sent")]
    return [(m.arrived - m.payload["sent"]) * 1000 for m in arrived]


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)


def _post(connection: http.client.HTTPConnection, key: str, body: dict[str, float]) -> int:
    """An event is its body (the webhook's key is the body's hash): the key goes in it."""
    headers = {"Content-Type": "application/json", "X-Webhook-Token": TOKEN, "X-Webhook-Id": key}
    connection.request("POST", PATH, json.dumps({**body, "id": key}), headers)
    answer = connection.getresponse()
    answer.read()
    return answer.status


def _stored(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def _percentile(values: list[float], percent: int) -> float:
    if not values:
        return float("nan")
    return (
        statistics.quantiles(values, n=100, method="inclusive")[percent - 1] if len(values) > 1 else values[0]
    )


def render(figures: Figures, duration: float, concurrency: int) -> str:
    return "\n".join(
        [
            "## Inbound events (`python -m bench.inbound`)",
            "",
            "One `http/webhook` subscription (shared token, JSON-pointer payload), the SQLite store,"
            " 4 gevent workers, a `MessageHost` on 127.0.0.1 taking the messages;"
            f" load by {figures.generator}.",
            "",
            "| figure | value | target |",
            "|---|---|---|",
            f"| webhook events accepted and stored, c={concurrency}, {duration:g} s | "
            f"{figures.accepted_per_s:,.0f} events/s | >= 1,000 |",
            "| 202 answers wrk counted / events in the SQLite file / failures |"
            f" {figures.accepted:,} / {figures.stored:,} / {figures.failures} | no fewer stored, 0 |",
            f"| the burst delivered to the host (from its start to its last message) |"
            f" {figures.delivered_per_s:,.0f} events/s | |",
            f"| answer latency p50 / p99 | {figures.p50_accept_ms:.1f} / {figures.p99_accept_ms:.1f} ms | |",
            f"| delay from event to delivery at {figures.delay_rate:g} events/s, p50 / p99 | "
            f"{figures.delay_p50_ms:.1f} / {figures.delay_p99_ms:.1f} ms ({figures.delivered} delivered) | |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inbound", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of each phase")
    parser.add_argument("--concurrency", type=int, default=32, help="connections posting events")
    parser.add_argument("--rate", type=float, default=200.0, help="events a second for the delay")
    parser.add_argument("--write", type=Path, help="also append the table to this Markdown file")
    parser.add_argument(
        "--no-tools", dest="tools", action="store_false", help="Python threads even if wrk exists"
    )
    options = parser.parse_args()
    figures = run(options.duration, options.concurrency, options.rate, options.tools)
    text = render(figures, options.duration, options.concurrency)
    print(text)
    if options.write:
        with options.write.open("a") as stream:
            stream.write("\n" + text)


if __name__ == "__main__":
    main()

"""Forged webhook floods against authenticated calls: the share of the calls' rate that survives.

    .venv/bin/python -m bench.flood [--duration 5] [--senders 16] [--body-mib 10] [--rounds 3]

The daemon runs as shipped (4 gevent workers) with one HMAC-signed ``http/webhook``
subscription. Authenticated calls (``POST /v1/do/http/GetRequestV2`` to a fast upstream on
127.0.0.1, 8 clients on keep-alive connections) are counted for ``--duration`` seconds alone,
then beside ``--senders`` threads posting bodies of ``--body-mib`` MiB with a wrong signature as
fast as they can, then beside the same senders posting bodies just under the webhook limit
(``events.max_body_bytes``). Each flood phase follows a quiet one, ``--rounds`` times, and its
share is the median of those pairs' ratios: drift between phases cannot reach it.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import multiprocessing
import multiprocessing.queues
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from urllib.parse import urlsplit

from bench.upstreams import fast_upstream
from connector_proxy.testing import MessageHost, RunningDaemon

API_KEY = "bench-api-key-0123456789"
SECRET = "bench-webhook-secret-0123456789"  # noqa: S105 - the bench's own subscription
PATH = "/v1/inbound/http/webhook/flood"
CALLERS = 8
CONFIG = """
[server]
workers = 4
log_level = "warning"
[auth]
api_keys = ["{key}"]
[discovery]
enable_unlisted = false
[connectors.http]
enabled = true
[connectors.http.config.destinations]
allow_loopback = true
[jobs]
sqlite_path = "{folder}/jobs.sqlite3"
[events]
host_url = "{host}"
[subscriptions.flood]
trigger = "http/webhook"
message = "flood"
settings = {{ secret = "{secret}" }}
"""


@dataclass(frozen=True)
class Figures:
    tree: str
    alone_per_s: float
    big_flood_per_s: float
    near_limit_flood_per_s: float
    liveness_p99_ms: float  # during the big flood
    flood_answers: dict[str, int]


def measure(duration: float, senders: int, body_mib: float, upstream: str, rounds: int) -> Figures:
    """Each flood phase beside an "alone" phase just before it, ``rounds`` times: the share is the
    median of those pairs' ratios, so the machine's drift between phases cannot reach it."""
    with tempfile.TemporaryDirectory() as folder, MessageHost() as host:
        config = Path(folder) / "plugins.toml"
        config.write_text(CONFIG.format(key=API_KEY, folder=folder, host=host.url, secret=SECRET))
        answers: dict[str, int] = {}
        pairs: dict[str, list[tuple[float, float]]] = {"big": [], "near": []}
        liveness = 0.0
        with RunningDaemon(config) as daemon:
            for _ in range(rounds):
                for phase, size in (("big", int(body_mib * 1024 * 1024)), ("near", 1024 * 1024 - 4096)):
                    alone = _calls(daemon.url, upstream, duration)
                    with _flood(daemon.url, senders, size, answers):
                        if phase == "big":
                            liveness = max(liveness, _liveness(daemon.url, duration / 2))
                        pairs[phase].append((alone, _calls(daemon.url, upstream, duration)))
    alone_rate = statistics.median(a for a, _ in pairs["big"] + pairs["near"])
    return Figures(
        "this tree",
        alone_rate,
        statistics.median(f / a for a, f in pairs["big"]) * alone_rate,
        statistics.median(f / a for a, f in pairs["near"]) * alone_rate,
        liveness,
        answers,
    )


def _calls(url: str, upstream: str, seconds: float) -> float:
    """Authenticated calls a second, from CALLERS clients on keep-alive connections."""
    counts = [0] * CALLERS
    stop_at = time.monotonic() + seconds
    body = json.dumps({"url": f"{upstream}/", "timeout": 10}).encode()
    headers = {"Content-Type": "application/json", "Spiff-Connector-Proxy-Api-Key": API_KEY}

    def client(slot: int) -> None:
        connection = _connection(url)
        while time.monotonic() < stop_at:
            connection.request("POST", "/v1/do/http/GetRequestV2", body, headers)
            answer = connection.getresponse()
            answer.read()
            counts[slot] += answer.status == 200

    _run_threads(client, CALLERS)
    return sum(counts) / seconds


class _flood:  # noqa: N801 - used as a context manager, like contextlib's
    """Senders posting wrongly signed bodies of ``size`` bytes until the block ends, in a process of
    their own at the lowest priority: a real flood's senders spend their own machine's CPU, not ours."""

    def __init__(self, url: str, senders: int, size: int, answers: dict[str, int]) -> None:
        self.url, self.senders, self.size, self.answers = url, senders, size, answers
        self.stop = multiprocessing.Event()
        self.counts: multiprocessing.queues.Queue[dict[str, int]] = multiprocessing.Queue()
        self.process: multiprocessing.Process | None = None

    def __enter__(self) -> _flood:
        arguments = (self.url, self.senders, self.size, self.stop, self.counts)
        self.process = multiprocessing.Process(target=_senders, args=arguments, daemon=True)
        self.process.start()
        time.sleep(0.5)  # the flood is on before anything is measured
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for status, count in self.counts.get(timeout=60).items():
            self.answers[status] = self.answers.get(status, 0) + count
        if self.process is not None:
            self.process.join(timeout=30)


def _senders(
    url: str, senders: int, size: int, stop: Event, counts: multiprocessing.queues.Queue[dict[str, int]]
) -> None:
    os.nice(19)
    body = os.urandom(size)
    answers: dict[str, int] = {}
    lock = threading.Lock()
    forged = "sha256=" + hashlib.sha256(b"not the signature").hexdigest()
    headers = {"Content-Type": "application/octet-stream", "X-Hub-Signature-256": forged}

    def send(_: int) -> None:
        while not stop.is_set():
            connection = _connection(url)
            try:
                connection.request("POST", PATH, body, headers)
                status = str(connection.getresponse().status)
            except OSError as error:  # refused before the body was all sent: the daemon closed it
                status = type(error).__name__
            finally:
                connection.close()
            with lock:
                answers[status] = answers.get(status, 0) + 1

    _run_threads(send, senders)
    counts.put(answers)


def _liveness(url: str, seconds: float) -> float:
    samples = []
    connection = _connection(url)
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        connection.request("GET", "/liveness")
        connection.getresponse().read()
        samples.append((time.perf_counter() - started) * 1000)
        time.sleep(0.01)
    return statistics.quantiles(samples, n=100)[98] if len(samples) > 1 else samples[0]


def _run_threads(target: object, count: int) -> None:
    threads = [threading.Thread(target=target, args=(slot,)) for slot in range(count)]  # type: ignore[arg-type]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)


def report(rows: list[Figures], arguments: argparse.Namespace) -> str:
    lines = [
        f"Forged-webhook flood: {arguments.senders} senders, {arguments.duration:g} s per phase, "
        f"{arguments.rounds} rounds (share: the median of each flood phase over the quiet one before it), "
        f"{CALLERS} authenticated callers (`python -m bench.flood`)",
        "",
        f"| daemon | calls/s alone | with {arguments.body_mib:g} MiB forgeries | share "
        "| with ~1 MiB forgeries | share | liveness p99 (big flood) | flood answers |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        big_share = row.big_flood_per_s / row.alone_per_s if row.alone_per_s else 0.0
        near_share = row.near_limit_flood_per_s / row.alone_per_s if row.alone_per_s else 0.0
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(row.flood_answers.items()))
        lines.append(
            f"| {row.tree} | {row.alone_per_s:.0f} | {row.big_flood_per_s:.0f} | {big_share:.0%} "
            f"| {row.near_limit_flood_per_s:.0f} | {near_share:.0%} | {row.liveness_p99_ms:.1f} ms "
            f"| {answers} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--body-mib", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    with fast_upstream() as upstream:
        rows = [
            measure(arguments.duration, arguments.senders, arguments.body_mib, upstream.url, arguments.rounds)
        ]
    print(report(rows, arguments))


if __name__ == "__main__":
    main()

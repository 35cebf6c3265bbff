"""The daemon under abuse: a hung upstream, and a burst. Shared by the e2e tests and the bench.

The tests call these with small numbers and assert; ``python -m bench
--resilience`` calls them with the issue's numbers (250 hung calls, a burst
of 2,000 at concurrency 64) and prints what it saw.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench import procstats
from bench.upstreams import fast_upstream
from connector_proxy.sdk.testing import SilentServer
from connector_proxy.testing import RunningDaemon

FORWARD = "/v1/do/http/GetRequestV2"
CONFIG = """
[server]
log_level = "warning"
[connectors.http.config.destinations]
allow_loopback = true
"""


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer at all (the connection failed)
    error_code: str | None
    seconds: float
    is_envelope: bool

    @property
    def outcome(self) -> str:
        """ok, the error code, or what went wrong below the envelope."""
        if self.status is None:
            return "no answer"
        if not self.is_envelope:
            return "not an envelope"
        return self.error_code or "ok"


@dataclass(frozen=True)
class Answered:
    """A run's answers, one per call, tallied by outcome."""

    answers: list[Answer]

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(answer.outcome for answer in self.answers)


@dataclass(frozen=True)
class HungFigures(Answered):
    liveness_max_ms: float
    liveness_p99_ms: float
    healthy_rate_before: float
    healthy_rate_during: float
    healthy_failures: int
    held_before: dict[str, int]
    held_after: dict[str, int]
    open_at_upstream: int  # connections to the hung upstream still open once every deadline passed
    same_workers: bool
    rss_before_mib: float
    rss_after_mib: float


@dataclass(frozen=True)
class BurstFigures(Answered):
    rss_before: float
    rss_after_first: float
    rss_after_second: float


def post(session: requests.Session, url: str, body: dict[str, Any], timeout: float) -> Answer:
    """One call as a host makes it; whatever happens is recorded, nothing raised."""
    started = time.perf_counter()
    try:
        response = session.post(url, json=body, timeout=timeout)
    except requests.RequestException:
        return Answer(None, None, time.perf_counter() - started, False)
    return answer_from(response.status_code, response.content, time.perf_counter() - started)


def answer_from(status: int, content: bytes, elapsed: float) -> Answer:
    """What a host would make of an answer: the envelope's error code, or that it is no envelope."""
    try:
        document = json.loads(content)
        error = document["error"]
        is_envelope = "command_response" in document and document["command_response_version"] == 2
    except (ValueError, KeyError, TypeError):
        return Answer(status, None, elapsed, False)
    return Answer(status, error["error_code"] if error else None, elapsed, is_envelope)


def hung_upstream(
    daemon: RunningDaemon, healthy_url: str, hung: int, deadline: float, give_up: float, clients: int = 4
) -> HungFigures:
    """``hung`` calls to an upstream that never answers, while liveness and a healthy upstream are used.

    The hung calls ask for a ``deadline`` in seconds. Half their clients wait
    for the answer; the other half give up after ``give_up`` (shorter) seconds,
    as a host does. Held descriptors and threads are counted before, and again
    once every deadline has passed.
    """
    workers = daemon.worker_pids()
    held_before = _held(workers)
    rss_before = sum(procstats.rss_mib(pid) for pid in workers)
    healthy = {"url": healthy_url, "spiff__task_data": {}}
    healthy_rate_before, _ = _rate(daemon.url + FORWARD, healthy, clients, seconds=1.0)
    with SilentServer(backlog=hung + 16) as silent, ThreadPoolExecutor(hung + 1) as pool:
        call = {"url": silent.url, "timeout": deadline, "spiff__task_data": {}}
        waits = (give_up, deadline + 10)
        pending = [pool.submit(_fresh_post, daemon.url + FORWARD, call, waits[n % 2]) for n in range(hung)]
        liveness = pool.submit(_liveness_during, daemon.url, give_up)
        healthy_rate_during, healthy_failures = _rate(daemon.url + FORWARD, healthy, clients, give_up)
        answers = [future.result() for future in pending]
        time.sleep(1.0)  # every deadline has passed by now: give the workers a moment to close up
        held_after = _held(workers)
        open_at_upstream = silent.open_connections()
    samples = sorted(liveness.result())
    return HungFigures(
        answers=answers,
        liveness_max_ms=samples[-1],
        liveness_p99_ms=samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        healthy_rate_before=healthy_rate_before,
        healthy_rate_during=healthy_rate_during,
        healthy_failures=healthy_failures,
        held_before=held_before,
        held_after=held_after,
        open_at_upstream=open_at_upstream,
        same_workers=sorted(daemon.worker_pids()) == sorted(workers),
        rss_before_mib=rss_before,
        rss_after_mib=sum(procstats.rss_mib(pid) for pid in workers),
    )


def burst(daemon: RunningDaemon, upstream_url: str, calls: int, concurrency: int) -> BurstFigures:
    """``calls`` forwarded calls at ``concurrency``, twice; memory read before, between and after."""
    workers = daemon.worker_pids()
    body = {"url": upstream_url, "spiff__task_data": {"x": "y" * 512}}
    rss_before = sum(procstats.rss_mib(pid) for pid in workers)
    answers = _spread(daemon.url + FORWARD, body, calls, concurrency)
    rss_after_first = sum(procstats.rss_mib(pid) for pid in workers)
    answers += _spread(daemon.url + FORWARD, body, calls, concurrency)
    rss_after_second = sum(procstats.rss_mib(pid) for pid in workers)
    return BurstFigures(answers, rss_before, rss_after_first, rss_after_second)


def _fresh_post(url: str, body: dict[str, Any], timeout: float) -> Answer:
    with requests.Session() as session:
        return post(session, url, body, timeout)


def _spread(url: str, body: dict[str, Any], calls: int, concurrency: int) -> list[Answer]:
    local = threading.local()

    def one(_: int) -> Answer:
        if not hasattr(local, "session"):
            local.session = requests.Session()  # one keep-alive connection per client thread
        return post(local.session, url, body, timeout=60)

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(calls)))


def _rate(url: str, body: dict[str, Any], clients: int, seconds: float) -> tuple[float, int]:
    """Successful calls per second by ``clients`` looping clients, and the calls that failed."""
    stop_at = time.perf_counter() + seconds
    done = [0] * clients
    failed = [0] * clients

    def client(slot: int) -> None:
        with requests.Session() as session:
            while time.perf_counter() < stop_at:
                answer = post(session, url, body, timeout=10)
                if answer.status == 200 and answer.error_code is None:
                    done[slot] += 1
                else:
                    failed[slot] += 1

    _in_threads(client, clients)
    return sum(done) / seconds, sum(failed)


def _liveness_during(base: str, seconds: float) -> list[float]:
    """Milliseconds each GET /liveness took, one after another, for ``seconds``."""
    samples: list[float] = []
    stop_at = time.perf_counter() + seconds
    with requests.Session() as session:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                session.get(f"{base}/liveness", timeout=5).raise_for_status()
                samples.append((time.perf_counter() - started) * 1000)
            except requests.RequestException:
                samples.append(float("inf"))
            time.sleep(0.01)
    return samples


def _in_threads(target: Callable[[int], None], count: int) -> None:
    threads = [threading.Thread(target=target, args=(slot,)) for slot in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _held(pids: list[int]) -> dict[str, int]:
    return {
        "descriptors": sum(procstats.open_fds(pid) for pid in pids),
        "threads": sum(procstats.threads(pid) for pid in pids),
    }


def run_large(hung: int = 250, calls: int = 2000, concurrency: int = 64) -> tuple[HungFigures, BurstFigures]:
    """The issue's numbers, against a daemon of the default shape."""
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "plugins.toml"
        config.write_text(CONFIG)
        with fast_upstream() as upstream, RunningDaemon(config) as daemon:
            hung_figures = hung_upstream(daemon, upstream.url, hung, deadline=5.0, give_up=3.0)
            burst_figures = burst(daemon, upstream.url, calls, concurrency)
    return hung_figures, burst_figures


def render(figures: tuple[HungFigures, BurstFigures]) -> str:
    hung, spike = figures
    timeouts = [a.seconds for a in hung.answers if a.error_code == "Timeout"]
    busy = [a.seconds for a in hung.answers if a.error_code == "DestinationBusy"]
    lines = [
        f"Hung upstream, {len(hung.answers)} calls (half the clients give up early): {dict(hung.outcomes)}",
        f"- DestinationBusy answered in {_ms(busy)}; Timeout answered in {_ms(timeouts)}",
        f"- liveness meanwhile: p99 {hung.liveness_p99_ms:.1f} ms, max {hung.liveness_max_ms:.1f} ms",
        f"- healthy forwarding: {hung.healthy_rate_before:.0f}/s before, {hung.healthy_rate_during:.0f}/s"
        f" during ({hung.healthy_failures} failed)",
        f"- workers held {json.dumps(hung.held_before)} before, {json.dumps(hung.held_after)} after the"
        f" deadlines; connections still open to the hung upstream: {hung.open_at_upstream};"
        f" same workers: {hung.same_workers}; workers' RSS {hung.rss_before_mib:.1f} MiB before,"
        f" {hung.rss_after_mib:.1f} after",
        f"Burst, {len(spike.answers)} calls: {dict(spike.outcomes)}",
        f"- workers' RSS: {spike.rss_before:.1f} MiB before, {spike.rss_after_first:.1f} after one burst,"
        f" {spike.rss_after_second:.1f} after two",
    ]
    return "\n".join(lines) + "\n"


def _ms(seconds: list[float]) -> str:
    if not seconds:
        return "-"
    return f"median {statistics.median(seconds) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms"

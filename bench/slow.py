"""Many calls at once to a slow upstream (healthy, 2 s per answer): every one must succeed.

``python -m bench --resilience`` runs 48, 200 and 1,000 parallel calls
against a daemon on its defaults. The client is asyncio (one socket per
call, no thread each), so on two cores the load generator costs little
beside the daemon it measures.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench import procstats
from bench.resilience import CONFIG, FORWARD, Answer, Answered, answer_from
from bench.upstreams import slow_upstream
from connector_proxy.testing import RunningDaemon

DELAY = 2.0  # seconds the upstream takes per answer
LEVELS = (48, 200, 1000)


@dataclass(frozen=True)
class SlowFigures(Answered):
    calls: int
    wall_s: float
    rss_before_mib: float
    rss_after_mib: float


def parallel_calls(daemon_url: str, upstream_url: str, calls: int, timeout: float = 60) -> list[Answer]:
    """``calls`` forwarded calls started at once, each on its own connection; answers in order."""
    body = json.dumps({"url": upstream_url, "spiff__task_data": {}}).encode()
    return asyncio.run(_all(daemon_url + FORWARD, body, calls, timeout))


def run_large(levels: tuple[int, ...] = LEVELS, delay: float = DELAY) -> list[SlowFigures]:
    """Each level against one daemon of the default shape (4 gevent workers)."""
    figures = []
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "plugins.toml"
        config.write_text(CONFIG)
        with slow_upstream(delay) as upstream, RunningDaemon(config) as daemon:
            workers = daemon.worker_pids()
            for calls in levels:
                rss_before = sum(procstats.rss_mib(pid) for pid in workers)
                started = time.perf_counter()
                answers = parallel_calls(daemon.url, upstream.url, calls)
                wall = time.perf_counter() - started
                rss_after = sum(procstats.rss_mib(pid) for pid in workers)
                figures.append(SlowFigures(answers, calls, wall, rss_before, rss_after))
    return figures


def render(figures: list[SlowFigures], delay: float = DELAY) -> str:
    lines = [f"Slow upstream ({delay:g} s per answer), calls started at once, daemon on its defaults:"]
    for level in figures:
        seconds = sorted(answer.seconds for answer in level.answers)
        lines.append(
            f"- {level.calls} calls: {dict(level.outcomes)} in {level.wall_s:.2f} s"
            f" ({level.wall_s / delay:.2f} x the ideal {delay:g} s); each took median"
            f" {statistics.median(seconds):.2f} s, max {seconds[-1]:.2f} s;"
            f" workers' RSS {level.rss_before_mib:.1f} -> {level.rss_after_mib:.1f} MiB"
        )
    return "\n".join(lines) + "\n"


async def _all(url: str, body: bytes, calls: int, timeout: float) -> list[Answer]:
    parts = urlsplit(url)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    return list(await asyncio.gather(*(_one(host, port, head + body, timeout) for _ in range(calls))))


async def _one(host: str, port: int, request: bytes, timeout: float) -> Answer:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            status_line = await reader.readline()
            content = (await reader.read()).split(b"\r\n\r\n", 1)[-1]  # Connection: close ends the body
            writer.close()
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return Answer(None, None, time.perf_counter() - started, False)
    status = int(status_line.split()[1])
    return answer_from(status, content, time.perf_counter() - started)

"""Drive load at a fixed concurrency: wrk when installed, else Python threads.

Both keep connections alive, as the host's HTTP client does. The fallback's
client costs CPU on the same two cores as the daemon, so its req/s are lower
and its latencies higher than wrk's; compare rows of one run, not runs.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Load:
    """One request shape: GET, or POST with a JSON body."""

    url: str
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Figures:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failures: int  # non-2xx answers, socket errors and timeouts

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def generator(use_tools: bool = True) -> str:
    return "wrk" if use_tools and shutil.which("wrk") else "python threads (fallback)"


def drive(load: Load, concurrency: int, seconds: float, use_tools: bool = True) -> Figures:
    if use_tools and shutil.which("wrk"):
        return _wrk(load, concurrency, seconds)
    return _threads(load, concurrency, seconds)


def _wrk(load: Load, concurrency: int, seconds: float) -> Figures:
    with tempfile.TemporaryDirectory() as folder:
        whole = max(1, round(seconds))  # wrk takes whole seconds
        command = ["wrk", f"-t{min(concurrency, 2)}", f"-c{concurrency}", f"-d{whole}s", "--latency"]
        if load.body is not None:
            script = Path(folder) / "post.lua"
            script.write_text(
                'wrk.method = "POST"\n'
                f"wrk.body = {json.dumps(json.dumps(load.body))}\n"
                'wrk.headers["Content-Type"] = "application/json"\n'
            )
            command += ["-s", str(script)]
        output = subprocess.run(
            [*command, "--timeout", "30s", load.url], capture_output=True, text=True, check=True
        ).stdout
    return parse_wrk(output)


def parse_wrk(output: str) -> Figures:
    count = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    if count is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    seconds = float(count.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[count.group(3)]
    failures = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Figures(
        requests=int(count.group(1)),
        seconds=seconds,
        p50_ms=_percentile(output, "50%"),
        p99_ms=_percentile(output, "99%"),
        failures=failures + (int(non_2xx.group(1)) if non_2xx else 0),
    )


def _percentile(output: str, label: str) -> float:
    found = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no {label} latency:\n{output}")
    return float(found.group(1)) * UNITS[found.group(2)]


def _threads(load: Load, concurrency: int, seconds: float) -> Figures:
    samples: list[list[float]] = [[] for _ in range(concurrency)]
    failures = [0] * concurrency
    stop_at = time.perf_counter() + seconds
    workers = [
        threading.Thread(target=_client, args=(load, stop_at, samples[n], failures, n))
        for n in range(concurrency)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(sample for own in samples for sample in own)
    if not latencies:
        raise RuntimeError(f"no request to {load.url} completed")
    return Figures(
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=latencies[len(latencies) // 2],
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        failures=sum(failures),
    )


def _client(load: Load, stop_at: float, samples: list[float], failures: list[int], slot: int) -> None:
    parts = urlsplit(load.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    method, body = ("POST", json.dumps(load.body).encode()) if load.body is not None else ("GET", None)
    headers = {"Content-Type": "application/json"} if body else {}
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            failures[slot] += 1
            connection.close()
            continue
        samples.append((time.perf_counter() - started) * 1000)
        if not 200 <= response.status < 300:
            failures[slot] += 1
    connection.close()

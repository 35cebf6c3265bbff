"""What task data costs a forward: ``POST /v1/do/http/GetRequestV2`` carrying 0, 1, 4 and 16 MiB of
``spiff__task_data``, this tree beside another commit, in one run.

    .venv/bin/python -m bench.taskdata [--against REV] [--sizes 0,1,4,16] [--requests 7]

The other commit gets a git worktree and a virtual environment of its own (its constraints.txt, from
the package registries' cache); each tree's daemon (one gevent worker, ``limits.max_body_bytes``
raised) forwards to the same local upstream. Sizes are sent to the two daemons in turn, one call at a
time; the figures are the median wall time per call seen by the client and the daemon's CPU per call
(read in 10 ms ticks: below 1 MiB twenty times the calls are sent), and the slope: what one more MiB
of task data costs, from the smallest size to the largest. Then memory: the worker's peak resident
set (VmHWM) above what it held before the first call, after each size (sizes go up, so each peak is
that size's), and that as a multiple of the body's size.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from bench.procstats import cpu_seconds, descendants, rss_mib
from bench.trees import other_tree
from connector_proxy.testing import RunningDaemon

ROOT = Path(__file__).parents[1]
CONFIG = """
[server]
workers = 1
log_level = "warning"
[limits]
max_body_bytes = {limit}
[discovery]
enable_unlisted = false
[connectors.http.config.destinations]
allow_loopback = true
[jobs]
sqlite_path = "{folder}/jobs.sqlite3"
"""


OK = b'{"ok": true}'


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        # one write: headers and body apart would meet Nagle and a delayed ACK (40 ms a call)
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n" + OK
        )

    def log_message(self, *_: object) -> None:
        return None


@contextmanager
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hello"
    finally:
        server.shutdown()


def task_data(mib: float) -> dict[str, object]:
    """Records like a process instance's: small objects with text, numbers and flags."""
    shuffled = random.Random(11)
    count = int(mib * 9000)
    rows = [
        {
            "id": i,
            "name": f"customer {i}",
            "score": shuffled.random() * 100,
            "active": i % 2 == 0,
            "tags": ["a"],
        }
        for i in range(count)
    ]
    return {"customers": rows}


def worker_peak(daemon: RunningDaemon) -> float:
    """The gunicorn worker's peak resident set so far, in MiB (the bench runs one worker)."""
    return max(rss_mib(pid, "VmHWM") for pid in descendants(daemon.process.pid))


def measure(daemon: RunningDaemon, body: bytes, count: int) -> tuple[float, float]:
    """Median milliseconds per call, and the daemon's CPU milliseconds per call."""
    session = requests.Session()
    url = f"{daemon.url}/v1/do/http/GetRequestV2"
    headers = {"Content-Type": "application/json"}
    session.post(url, data=body, headers=headers, timeout=120).raise_for_status()  # warm
    pids = [daemon.process.pid, *descendants(daemon.process.pid)]
    before, times = cpu_seconds(pids), []
    for _ in range(count):
        started = time.perf_counter()
        answer = session.post(url, data=body, headers=headers, timeout=120)
        times.append(time.perf_counter() - started)
        assert answer.json()["error"] is None, answer.text[:300]
    return statistics.median(times) * 1000, (cpu_seconds(pids) - before) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--against", help="a commit to run beside this tree (a worktree and a venv of its own)"
    )
    parser.add_argument("--sizes", default="0,1,4,16", help="MiB of task data, comma-separated")
    parser.add_argument("--requests", type=int, default=7)
    arguments = parser.parse_args()
    sizes = [float(size) for size in arguments.sizes.split(",")]
    with tempfile.TemporaryDirectory() as folder, upstream() as url, ExitStack() as stack:
        config = Path(folder) / "plugins.toml"
        config.write_text(CONFIG.format(limit=int(max(sizes) * 2**20 * 1.5) + 2**20, folder=folder))
        daemons = {"this tree": stack.enter_context(RunningDaemon(config, cwd=folder))}
        if arguments.against:
            python, tree = stack.enter_context(other_tree(arguments.against, Path(folder)))
            daemons[arguments.against] = stack.enter_context(RunningDaemon(config, python=python, cwd=tree))
        figures: dict[str, dict[float, tuple[float, float]]] = {name: {} for name in daemons}
        idle = {name: worker_peak(daemon) for name, daemon in daemons.items()}
        peaks: dict[str, dict[float, float]] = {name: {} for name in daemons}
        body_mib: dict[float, float] = {}
        for size in sizes:
            body = json.dumps({"url": url, "spiff__task_data": task_data(size)}).encode()
            body_mib[size] = len(body) / 2**20
            count = arguments.requests * (1 if size >= 1 else 20)  # CPU is read in 10 ms ticks
            for name, daemon in daemons.items():
                figures[name][size] = measure(daemon, body, count)
                peaks[name][size] = worker_peak(daemon) - idle[name]
        print_times(figures, sizes)
        print_peaks(peaks, body_mib)


def print_times(figures: dict[str, dict[float, tuple[float, float]]], sizes: list[float]) -> None:
    print("| tree | " + " | ".join(f"{size:g} MiB: ms, CPU ms" for size in sizes) + " | ms per MiB |")
    print("|---|" + "---|" * (len(sizes) + 1))
    for name, by_size in figures.items():
        cells = " | ".join(f"{wall:.1f}, {cpu:.1f}" for wall, cpu in by_size.values())
        slope = (by_size[sizes[-1]][0] - by_size[sizes[0]][0]) / ((sizes[-1] - sizes[0]) or 1)
        print(f"| {name} | {cells} | {slope:.1f} |")


def print_peaks(peaks: dict[str, dict[float, float]], body_mib: dict[float, float]) -> None:
    print("\n| tree | " + " | ".join(f"{size:g} MiB: peak above idle, MiB" for size in body_mib) + " |")
    print("|---|" + "---|" * len(body_mib))
    for name, by_size in peaks.items():
        cells = " | ".join(
            f"{peak:.1f} ({peak / body_mib[size]:.1f}x)" if body_mib[size] >= 0.5 else f"{peak:.1f}"
            for size, peak in by_size.items()
        )
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()

"""Latency of the daemon on this machine, at concurrency 1: p50 and p99 per scenario.

    .venv/bin/python bench/latency.py [--requests 2000]

Starts a fast upstream on 127.0.0.1, the daemon under gunicorn as
``connector-proxy serve`` does, and times, one after the other, the upstream
called directly, ``GET /v1/commands`` and ``POST /v1/do/http/GetRequestV2``
forwarding to the upstream. Figures include the Python client's own cost,
the same in every row; compare rows within one run.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

CONFIG = """
[server]
log_level = "warning"
[connectors.http.config.destinations]
allow_loopback = true
"""


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else delayed ACKs add 40 ms to every answer
    body = b'{"ok": true, "items": [1, 2, 3]}'

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: object) -> None:
        return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_daemon(config: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "connector_proxy", "serve", "--config", str(config)]
    daemon = subprocess.Popen([*command, "--bind", f"127.0.0.1:{port}"], env=dict(os.environ))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/liveness", timeout=1)
            return daemon
        except requests.ConnectionError:
            time.sleep(0.05)
    daemon.kill()
    raise SystemExit("the daemon did not start")


def percentiles(call: Callable[[], requests.Response], count: int) -> tuple[float, float]:
    for _ in range(min(100, count)):
        call().raise_for_status()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call().raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per scenario")
    count = parser.parse_args().requests
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    target = f"http://127.0.0.1:{upstream.server_port}/items"
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "plugins.toml"
        config.write_text(CONFIG)
        port = free_port()
        daemon = start_daemon(config, port)
        try:
            session = requests.Session()
            proxy = f"http://127.0.0.1:{port}"
            rows = {
                "upstream, direct": lambda: session.get(target),
                "GET /v1/commands": lambda: session.get(f"{proxy}/v1/commands"),
                "POST /v1/do/http/GetRequestV2": lambda: session.post(
                    f"{proxy}/v1/do/http/GetRequestV2", json={"url": target, "spiff__task_data": {}}
                ),
            }
            print(f"{'scenario':<32}{'p50 ms':>10}{'p99 ms':>10}")
            for name, call in rows.items():
                p50, p99 = percentiles(call, count)
                print(f"{name:<32}{p50:>10.2f}{p99:>10.2f}")
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
            upstream.shutdown()


if __name__ == "__main__":
    main()

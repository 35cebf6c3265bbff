"""What a connector built from a big OpenAPI document costs: ``python -m bench.openapi [DOCUMENT]``.

The document defaults to GitHub's public description kept in the openapi connector's tests (13 MB,
1,223 operations, xz-compressed). Measured: building it in this process (read, check, convert, bind);
the daemon under gunicorn from start to ready with it; each worker's own memory (its unique set, what
a fork did not share, and its resident set); ``GET /v1/commands`` and ``GET /v1/commands/<id>``
(first and second asks). Figures, not pass/fail: bench/RESULTS.md keeps them.
"""

from __future__ import annotations

import argparse
import lzma
import os
import statistics
import tempfile
import time
from pathlib import Path

import requests

from bench.procstats import rss_mib
from connector_proxy.calls.discovery import discover
from connector_proxy.config import load_settings
from connector_proxy.testing import RunningDaemon

GITHUB = Path(__file__).parents[1] / "connectors/openapi/tests/documents/api.github.com.json.xz"
CONFIG = """
[server]
log_level = "warning"
workers = {workers}
[discovery]
enable_unlisted = false
[connectors.api]
openapi = "{document}"
[connectors.api.config]
base_url = "http://127.0.0.1:9"
auth = {{ bearer = "not-a-token" }}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "document", nargs="?", default=str(GITHUB), help="a document (.xz: decompressed first)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--asks", type=int, default=20, help="GET /v1/commands this many times")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = _config(Path(folder), Path(arguments.document), arguments.workers)
        _in_process(config)
        _daemon(config, arguments.asks)


def _config(folder: Path, document: Path, workers: int) -> Path:
    target = folder / document.name.removesuffix(".xz")
    target.write_bytes(
        lzma.decompress(document.read_bytes()) if document.suffix == ".xz" else document.read_bytes()
    )
    config = folder / "plugins.toml"
    config.write_text(CONFIG.format(workers=workers, document=target.name))
    print(f"document: {document.name}, {target.stat().st_size / 1e6:.1f} MB")
    return config


def _in_process(config: Path) -> None:
    settings = load_settings(config, {})
    before = rss_mib(os.getpid())
    started = time.perf_counter()
    registry = discover(settings).registry
    took = time.perf_counter() - started
    commands = sum(1 for command_id in registry.commands if command_id.startswith("api/"))
    grown = rss_mib(os.getpid()) - before
    print(f"in process: built and bound {commands} commands in {took:.2f} s, RSS +{grown:.0f} MiB")


def _daemon(config: Path, asks: int) -> None:
    daemon = RunningDaemon(config)
    try:
        ready = daemon.wait_ready(120)
        print(f"daemon: ready {ready:.2f} s after start")
        master = daemon.process.pid
        for pid in daemon.worker_pids():
            print(f"  worker {pid}: unique {_uss_mib(pid):.1f} MiB, resident {rss_mib(pid):.1f} MiB")
        print(f"  master {master}: resident {rss_mib(master):.1f} MiB")
        _timed(f"{daemon.url}/v1/commands", asks)
        listed = requests.get(f"{daemon.url}/v1/commands", timeout=60).json()
        one = f"{daemon.url}/v1/commands/{next(e['id'] for e in listed if e['id'].startswith('api/'))}"
        first = time.perf_counter()
        requests.get(one, timeout=60).raise_for_status()
        print(f"GET {one.split('/', 3)[3]} first: {(time.perf_counter() - first) * 1000:.1f} ms")
        _timed(one, asks)
        for pid in daemon.worker_pids():
            print(f"  after: worker {pid}: unique {_uss_mib(pid):.1f} MiB, resident {rss_mib(pid):.1f} MiB")
    finally:
        daemon.stop()


def _timed(url: str, asks: int) -> None:
    session = requests.Session()
    times, size = [], 0
    for _ in range(asks):
        started = time.perf_counter()
        answer = session.get(url, timeout=60, headers={"Accept-Encoding": "identity"})
        answer.raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
        size = len(answer.content)
    path = url.split("/", 3)[3]
    print(
        f"GET /{path}: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms, {size / 1e6:.2f} MB"
    )


def _uss_mib(pid: int) -> float:
    """What only this process holds (private pages): a forked worker's own cost."""
    private = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            private += int(line.split()[1])
    return private / 1024


if __name__ == "__main__":
    main()

"""Our daemon beside spiff-arena's async-http proxy, both forwarding the same GET.

    .venv/bin/python -m bench.peer --checkout ~/src/spiff-arena [--rounds 3] [--duration 3] [--against REV]

The peer is spiff-arena's ``connector-proxies/async-http`` (falcon, httpx,
orjson) served as it ships: granian with its boot script's worker count. Its
code is read from a checkout the user points at (``--checkout`` or
``BENCH_ASYNC_HTTP``; the repository root or the folder itself): nothing of it
is kept here. Its pinned requirements go into a virtual environment of their
own under the user's cache folder, made once per requirements file.

Both proxies forward ``GET`` of the upstream's small JSON document (nginx when
installed); wrk drives each in turn, rounds interleaved, and every figure is
the median of the rounds; a ratio is taken within a round, where drift cannot
reach it. ``--against REV`` runs commit REV's daemon too (a worktree and a
venv of its own), so a change shows as a multiple of its base in the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import load, procstats, resilience, trees
from bench.upstreams import Upstream, fast_upstream
from connector_proxy.sdk.testing import free_port
from connector_proxy.testing import RunningDaemon, start_owned, stop_owned

CHECKOUT_ENV = "BENCH_ASYNC_HTTP"
SUBDIR = Path("connector-proxies") / "async-http"
PEER = "async-http"
OURS = "ours"
DIRECT = "direct"


@dataclass(frozen=True)
class Proxy:
    """One proxy under test: where to send the forward, and the process whose tree spends the CPU."""

    name: str
    load: load.Load
    master: int | None  # None: the upstream itself
    workers: list[int]


@dataclass(frozen=True)
class Memory:
    rss_mib: float
    pss_mib: float
    uss_mib: float


def main() -> None:
    options = _options()
    checkout = find_checkout(options.checkout or os.environ.get(CHECKOUT_ENV))
    text = run(
        checkout,
        options.rounds,
        options.duration,
        options.concurrency,
        options.startups,
        options.against,
        options.peer_python,
    )
    print(text)


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--checkout", help=f"spiff-arena checkout (or its async-http folder); else ${CHECKOUT_ENV}"
    )
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of every proxy and level")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per proxy and level")
    parser.add_argument("--concurrency", type=_levels, default=(1, 8, 32), help="e.g. 1,8,32")
    parser.add_argument("--startups", type=int, default=3, help="cold starts timed, each proxy")
    parser.add_argument("--against", help="a commit whose daemon runs too (its own worktree and venv)")
    parser.add_argument(
        "--peer-python", help="the interpreter for its venv (default: its Dockerfile's version)"
    )
    return parser.parse_args()


def _levels(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def find_checkout(given: str | None) -> Path:
    """The async-http folder, from a spiff-arena checkout or the folder itself."""
    if not given:
        raise SystemExit(f"give --checkout PATH or set {CHECKOUT_ENV} (a spiff-arena checkout)")
    root = Path(given).expanduser().resolve()
    for folder in (root / SUBDIR, root):
        if (folder / "main.py").is_file() and (folder / "requirements.txt").is_file():
            return folder
    raise SystemExit(f"{root} holds neither {SUBDIR}/main.py nor main.py with a requirements.txt")


def shipped_python(checkout: Path) -> str:
    """The Python its Dockerfile builds on (``FROM python:3.13...``), when this machine has that version;
    else the one running the bench."""
    dockerfile = checkout / "Dockerfile"
    text = dockerfile.read_text() if dockerfile.exists() else ""
    found = re.search(r"^FROM python:(\d+\.\d+)", text, re.MULTILINE)
    candidate = shutil.which(f"python{found.group(1)}") if found else None
    if (
        candidate
        and subprocess.run([candidate, "--version"], capture_output=True, check=False).returncode == 0
    ):
        return candidate  # a pyenv shim for a version not enabled is found, but fails
    return sys.executable


def peer_python(checkout: Path, interpreter: str) -> Path:
    """A virtual environment with the peer's pinned requirements, made once per requirements file and
    interpreter."""
    requirements = checkout / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes() + interpreter.encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    venv = cache / "connector-proxy-bench" / f"async-http-{digest}"
    done = venv / ".installed"
    if not done.exists():
        subprocess.run([interpreter, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(requirements)], check=True)
        done.touch()
    return venv / "bin" / "python"


def shipped_workers(checkout: Path, default: int = 3) -> int:
    """The worker count its boot script passes to granian (3 when this was written)."""
    script = checkout / "bin" / "boot_server_in_docker"
    found = re.search(r"^workers=(\d+)", script.read_text(), re.MULTILINE) if script.exists() else None
    return int(found.group(1)) if found else default


class PeerServer:
    """async-http under granian on 127.0.0.1, as its boot script starts it but for the address."""

    def __init__(self, checkout: Path, python: Path, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        granian = python.parent / "granian"
        command = [str(granian), "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(workers), "--interface", "asgi", "main:app"]
        self.workers = workers
        self.started = time.perf_counter()
        # it logs every call at INFO, as it ships: the lines are formatted, then dropped here
        self.process = start_owned(
            command, cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def wait_ready(self, seconds: float = 60) -> float:
        """Seconds from spawning to the first 200 on ``/liveness``; then wait for every worker."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"granian exited early with status {self.process.returncode}")
            if _answers(self.port):
                first = time.perf_counter() - self.started
                while len(self.worker_pids()) < self.workers and time.monotonic() < deadline:
                    time.sleep(0.02)
                return first
            time.sleep(0.005)
        raise RuntimeError(f"async-http did not answer within {seconds} s")

    def worker_pids(self) -> list[int]:
        return procstats.descendants(self.process.pid)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)  # granian's graceful stop
        stop_owned(self.process, timeout=10)


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/liveness")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


@contextmanager
def peer(checkout: Path, python: Path, workers: int) -> Iterator[PeerServer]:
    server = PeerServer(checkout, python, workers)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def memory(pid: int) -> Memory:
    """Resident, proportional and unique set size of one process, from ``smaps_rollup``."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return Memory(fields["Rss"] / 1024, fields["Pss"] / 1024, uss / 1024)


def run(
    checkout: Path,
    rounds: int,
    duration: float,
    levels: tuple[int, ...],
    startups: int,
    against: str | None = None,
    interpreter: str | None = None,
) -> str:
    python = peer_python(checkout, interpreter or shipped_python(checkout))
    version = subprocess.run([python, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    before = _load()
    workers = shipped_workers(checkout)
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        config = Path(folder) / "daemon.toml"
        config.write_text(resilience.CONFIG)  # the defaults, loopback allowed, warnings only
        upstream = stack.enter_context(fast_upstream())
        ours = stack.enter_context(RunningDaemon(config).ready())
        theirs = stack.enter_context(peer(checkout, python, workers))
        proxies = [
            Proxy(DIRECT, load.Load(upstream.url), None, []),
            _ours(OURS, ours, upstream),
            Proxy(
                PEER,
                load.Load(f"{theirs.url}/v1/do/http/GetRequest", {"url": upstream.url}),
                theirs.process.pid,
                theirs.worker_pids(),
            ),
        ]
        other: tuple[Path, Path] | None = None
        if against:
            other = stack.enter_context(trees.other_tree(against, Path(folder)))
            twin = stack.enter_context(RunningDaemon(config, python=other[0], cwd=other[1]).ready())
            proxies.append(_ours(against, twin, upstream))
        samples = _measure(proxies, rounds, duration, levels)
        memories = {p.name: [memory(pid) for pid in p.workers] for p in proxies if p.master}
        starts: dict[str, list[float]] = defaultdict(list)
        for _ in range(startups):  # interleaved too: a busy minute slows every proxy's start alike
            starts[OURS].append(_start_ours(config))
            starts[PEER].append(_start_peer(checkout, python, workers))
            if other:
                starts[against or ""].append(_start_ours(config, *other))
    loads = f"{before} before, {_load()} after"
    return render(
        samples, memories, starts, levels, upstream, f"granian, {workers}, {version}", against, loads
    )


def _ours(name: str, daemon: RunningDaemon, upstream: Upstream) -> Proxy:
    forward = {"url": upstream.url, "spiff__task_id": "bench", "spiff__task_data": {}}
    url = f"{daemon.url}/v1/do/http/GetRequestV2"
    return Proxy(name, load.Load(url, forward), daemon.process.pid, daemon.worker_pids())


Sample = tuple[load.Figures, float | None]


def _measure(
    proxies: list[Proxy], rounds: int, duration: float, levels: tuple[int, ...]
) -> dict[tuple[str, int], list[Sample]]:
    samples: dict[tuple[str, int], list[Sample]] = defaultdict(list)
    for number in range(rounds):
        for concurrency in levels:
            # interleaved, and each round in another order: neither proxy always follows the other
            order = proxies if number % 2 == 0 else [proxies[0], *reversed(proxies[1:])]
            for proxy in order:
                samples[proxy.name, concurrency].append(_one(proxy, concurrency, duration))
    return samples


def _one(proxy: Proxy, concurrency: int, duration: float) -> Sample:
    pids = [proxy.master, *procstats.descendants(proxy.master)] if proxy.master else []
    before = procstats.cpu_seconds(pids)
    figures = load.drive(proxy.load, concurrency, duration)
    spent = procstats.cpu_seconds(pids) - before
    return figures, (spent * 1000 / figures.requests if proxy.master and figures.requests else None)


def _start_ours(config: Path, python: Path | None = None, tree: Path | None = None) -> float:
    daemon = RunningDaemon(config, python=python or sys.executable, cwd=tree)
    try:
        return daemon.wait_ready()
    finally:
        daemon.stop()


def _start_peer(checkout: Path, python: Path, workers: int) -> float:
    server = PeerServer(checkout, python, workers)
    try:
        return server.wait_ready()
    finally:
        server.stop()


def render(
    samples: dict[tuple[str, int], list[Sample]],
    memories: dict[str, list[Memory]],
    starts: dict[str, list[float]],
    levels: tuple[int, ...],
    upstream: Upstream,
    served: str,
    against: str | None,
    loads: str,
) -> str:
    names = [OURS, PEER, *([against] if against else [])]
    head = " | ".join(names)
    lines = [
        f"| figure | {head} | ours / {PEER} |" + (f" ours / {against} |" if against else ""),
        "|---|" + "---|" * (len(names) + 1 + (1 if against else 0)),
    ]

    def row(label: str, figure: Callable[[str, int], float], fmt: str) -> None:
        values = [
            statistics.median(figure(name, n) for n in range(len(samples[name, levels[0]]))) for name in names
        ]
        ratios = [
            statistics.median(
                figure(OURS, n) / figure(other, n) for n in range(len(samples[OURS, levels[0]]))
            )
            for other in names[1:]
        ]
        cells = " | ".join(format(v, fmt) for v in values)
        lines.append(f"| {label} | {cells} | " + " | ".join(f"{r:.2f}x" for r in ratios) + " |")

    def cpu(c: int) -> Callable[[str, int], float]:
        return lambda name, n: samples[name, c][n][1] or 0.0

    def rate(c: int) -> Callable[[str, int], float]:
        return lambda name, n: samples[name, c][n][0].rate

    def p99(c: int) -> Callable[[str, int], float]:
        return lambda name, n: samples[name, c][n][0].p99_ms

    def added(name: str, n: int) -> float:
        return samples[name, 1][n][0].p50_ms - samples[DIRECT, 1][n][0].p50_ms

    for c in levels:
        row(f"server CPU per call, c={c} (ms)", cpu(c), ".3f")
    if 1 in levels:
        row("added p50 at c=1 (ms)", added, ".3f")
    for c in levels:
        row(f"req/s, c={c}", rate(c), ",.0f")
    for c in levels:
        row(f"p99 at c={c} (ms)", p99(c), ".2f")
    for label, field in (("RSS", "rss_mib"), ("PSS", "pss_mib"), ("USS", "uss_mib")):
        values = [statistics.median(getattr(m, field) for m in memories[name]) for name in names]
        cells = " | ".join(f"{v:.1f}" for v in values)
        ratios = " | ".join(f"{values[0] / v:.2f}x" for v in values[1:])
        lines.append(f"| {label} per worker, median (MiB) | {cells} | {ratios} |")
    values = [statistics.median(starts[name]) * 1000 for name in names]
    ratios = " | ".join(f"{values[0] / v:.2f}x" for v in values[1:])
    lines.append(
        f"| start-up to first answer, median (ms) | {' | '.join(f'{v:.0f}' for v in values)} | {ratios} |"
    )
    failures = {
        name: sum(f.failures for c in levels for f, _ in samples[name, c]) for name in [DIRECT, *names]
    }
    direct = {c: statistics.median(f.rate for f, _ in samples[DIRECT, c]) for c in levels}
    counts = {name: len(memories[name]) for name in names}
    lines += [
        "",
        f"Upstream: {upstream.kind}, direct {', '.join(f'c={c} {r:,.0f}/s' for c, r in direct.items())};"
        f" load generator: {load.generator()}; workers: {counts} ({PEER} as shipped: {served});"
        f" failures: {failures}; load average (1, 5, 15 min): {loads}.",
    ]
    return "\n".join(lines) + "\n"


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()

"""Start-up to the first answer and each worker's memory, this tree against another commit's, in one run.

    .venv/bin/python -m bench.startup --against REV [--starts 6] [--traffic 3]

Each start is a fresh ``connector-proxy serve`` on the bench's defaults (every installed connector,
loopback allowed); the two trees start alternately, each round in the other order, so a busy minute
slows both alike. Per start: the seconds from spawning to the first 200 on ``/liveness``; each
worker's RSS, PSS and USS once every worker is up (idle), then again after ``--traffic`` seconds of
forwards through the http connector at concurrency 8 (wrk when installed). Figures are medians; a
ratio is this tree's median over REV's. The load average is printed before and after: on a shared
machine only the ratios hold.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import load, resilience, trees
from bench.peer import Memory, memory
from bench.upstreams import Upstream, fast_upstream
from connector_proxy.testing import RunningDaemon

THIS = "this tree"
SETTLE = 0.5  # seconds after the last worker is up: its services have started


@dataclass(frozen=True)
class Start:
    first_answer_ms: float
    idle: list[Memory]
    after: list[Memory]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--against", help="a commit started alternately with this tree (its own venv)")
    parser.add_argument("--starts", type=int, default=6, help="starts of each tree")
    parser.add_argument("--traffic", type=float, default=3.0, help="seconds of forwards before 'after'")
    options = parser.parse_args()
    print(run(options.against, options.starts, options.traffic))


def run(against: str | None, starts: int, traffic: float) -> str:
    before = _load()
    found: dict[str, list[Start]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        config = Path(folder) / "daemon.toml"
        config.write_text(resilience.CONFIG)  # the defaults, loopback allowed, warnings only
        upstream = stack.enter_context(fast_upstream())
        trees_by_name: dict[str, tuple[Path | None, Path | None]] = {THIS: (None, None)}
        if against:
            trees_by_name[against] = stack.enter_context(trees.other_tree(against, Path(folder)))
        names = list(trees_by_name)
        for number in range(starts):
            for name in names if number % 2 == 0 else list(reversed(names)):
                python, tree = trees_by_name[name]
                found[name].append(_start(config, upstream, traffic, python, tree))
    return render(found, f"{before} before, {_load()} after", traffic)


def _start(config: Path, upstream: Upstream, traffic: float, python: Path | None, tree: Path | None) -> Start:
    daemon = RunningDaemon(config, python=python or sys.executable, cwd=tree)
    try:
        first = daemon.wait_ready()
        time.sleep(SETTLE)
        workers = daemon.worker_pids()
        idle = [memory(pid) for pid in workers]
        forward = {"url": upstream.url, "spiff__task_id": "bench", "spiff__task_data": {}}
        if traffic > 0:
            load.drive(load.Load(f"{daemon.url}/v1/do/http/GetRequestV2", forward), 8, traffic)
        after = [memory(pid) for pid in workers]
        return Start(first * 1000, idle, after)
    finally:
        daemon.stop()


def render(found: dict[str, list[Start]], loads: str, traffic: float) -> str:
    names = list(found)
    rows: list[tuple[str, list[float]]] = [
        ("start-up to first answer (ms)", [_median(s.first_answer_ms for s in found[n]) for n in names])
    ]
    for when, pick in (("idle", "idle"), (f"after {traffic:g} s of forwards", "after")):
        for field in ("rss_mib", "pss_mib", "uss_mib"):
            label = f"{field[:3].upper()} per worker, {when} (MiB)"
            values = [_median(getattr(m, field) for s in found[n] for m in getattr(s, pick)) for n in names]
            rows.append((label, values))
    head = " | ".join(names)
    ratio = f" {names[0]} / {names[1]} |" if len(names) > 1 else ""
    lines = [f"| figure | {head} |{ratio}", "|---|" + "---|" * (len(names) + (1 if ratio else 0))]
    for label, values in rows:
        cells = " | ".join(f"{value:,.1f}" for value in values)
        extra = f" {values[0] / values[1]:.2f}x |" if ratio and values[1] else ""
        lines.append(f"| {label} | {cells} |{extra}")
    starts = ", ".join(f"{n}: " + " ".join(f"{s.first_answer_ms:,.0f}" for s in found[n]) for n in names)
    lines += ["", f"each start (ms), in order: {starts}", f"load average: {loads}"]
    return "\n".join(lines)


def _median(values: Iterable[float]) -> float:
    items = list(values)
    return statistics.median(items) if items else 0.0


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()

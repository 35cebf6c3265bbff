"""Throughput, latency, CPU and memory of the daemon against calling the upstream directly.

    .venv/bin/python -m bench [--rounds 3] [--duration 3] [--against REV] [--write bench/RESULTS.md]

Scenarios are interleaved and repeated; each figure is the median over the
rounds, and each ratio is taken within a round, where drift cannot reach it.
``--against REV`` runs commit REV's daemon (a worktree and a venv of its own)
beside this tree's on the same scenarios, in the same rounds, and adds this
tree's figures as multiples of REV's.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import requests

from bench import inbound, load, procstats, resilience, slow, trees
from bench.sites import write_site
from bench.upstreams import Upstream, fast_upstream
from connector_proxy.testing import RunningDaemon

CONFIG = (
    resilience.CONFIG
    + f"""
[connectors.bench_isolated]
python = "{sys.executable}"
"""
)
DIRECT = "upstream, direct"
FORWARD = "POST /v1/do/http/GetRequestV2"
HOP = "POST /v1/do/bench/Echo (through another proxy)"
# a daemon serving the bench connector through the first one ([proxies.<name>], issue 32)
AGGREGATING = """
[connectors.bench]
enabled = false
[proxies.first]
url = "{url}"
connectors = ["bench"]
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    load: load.Load
    daemon: RunningDaemon | None  # None: the upstream alone


@dataclass(frozen=True)
class Row:
    scenario: str
    concurrency: int
    rate: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float | None
    p50_ratio: float
    failures: int


@dataclass(frozen=True)
class Report:
    rows: list[Row]
    startup_s: float
    rss_mib: float
    workers: int
    upstream: str
    generator: str
    against: str | None = None  # the commit whose daemon ran beside this tree's
    other_startup_s: float | None = None


def main() -> None:
    options = _options()
    report = run(
        options.rounds,
        options.duration,
        options.concurrency,
        options.dummies,
        options.startups,
        options.tools,
        options.against,
    )
    text = render(report)
    if options.resilience:
        text += "\n" + slow.render(slow.run_large())
        text += "\n" + resilience.render(resilience.run_large())
    if options.inbound:
        text += "\n" + inbound.render(inbound.run(5.0, 32, 200.0), 5.0, 32)
    print(text)
    if options.write:
        options.write.write_text(_document(text, options))


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of every scenario")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per scenario and level")
    parser.add_argument("--concurrency", type=_levels, default=(1, 8, 32), help="e.g. 1,8,32")
    parser.add_argument("--dummies", type=int, default=100, help="extra connector packages installed")
    parser.add_argument("--startups", type=int, default=5, help="cold starts timed")
    parser.add_argument("--resilience", action="store_true", help="also run the slow, hung and burst runs")
    parser.add_argument("--inbound", action="store_true", help="also run the inbound events scenario")
    parser.add_argument("--write", type=Path, help="also write the report to this Markdown file")
    parser.add_argument("--against", help="a commit whose daemon runs beside this tree's (its own venv)")
    parser.add_argument(
        "--no-tools", dest="tools", action="store_false", help="use the fallbacks even if wrk and nginx exist"
    )
    return parser.parse_args()


def _levels(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def run(
    rounds: int,
    duration: float,
    levels: tuple[int, ...],
    dummies: int,
    startups: int,
    tools: bool = True,
    against: str | None = None,
) -> Report:
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        config = Path(folder) / "plugins.toml"
        config.write_text(CONFIG)
        plain = Path(folder) / "builtin.toml"
        plain.write_text(resilience.CONFIG)
        few = write_site(Path(folder) / "few", 0)
        many = write_site(Path(folder) / "many", dummies)
        upstream = stack.enter_context(fast_upstream(prefer_nginx=tools))
        daemon = stack.enter_context(RunningDaemon(config, site=(few,)))
        crowded = stack.enter_context(RunningDaemon(config, site=(many,)))
        hop = Path(folder) / "aggregating.toml"
        hop.write_text(resilience.CONFIG + AGGREGATING.format(url=daemon.url))
        aggregating = stack.enter_context(RunningDaemon(hop, site=(few,)))
        scenarios = list(_scenarios(upstream, daemon, crowded, aggregating))
        other: tuple[Path, Path] | None = None
        if against:  # its isolated workers would run this tree's code: in-process scenarios only
            other = stack.enter_context(trees.other_tree(against, Path(folder)))
            twin = stack.enter_context(RunningDaemon(plain, site=(few,), python=other[0], cwd=other[1]))
            scenarios += list(_twins(upstream, twin, against))
        samples = _measure(scenarios, rounds, duration, levels, tools)
        starts = [_startup(plain) for _ in range(startups)]  # the built-in connectors only
        other_starts = [_startup(plain, *other) for _ in range(startups)] if other else []
        rss = max(procstats.rss_mib(pid) for pid in daemon.worker_pids())
        return Report(
            rows=_rows(samples, levels, scenarios),
            startup_s=statistics.median(starts),
            rss_mib=rss,
            workers=len(daemon.worker_pids()),
            upstream=upstream.kind,
            generator=load.generator(tools),
            against=against,
            other_startup_s=statistics.median(other_starts) if other_starts else None,
        )


def _scenarios(
    upstream: Upstream, daemon: RunningDaemon, crowded: RunningDaemon, aggregating: RunningDaemon
) -> Iterator[Scenario]:
    yield Scenario(DIRECT, load.Load(upstream.url), None)
    forward = {"url": upstream.url, "spiff__task_id": "bench", "spiff__task_data": {}}
    yield Scenario(FORWARD, load.Load(f"{daemon.url}/v1/do/http/GetRequestV2", forward), daemon)
    for running in (daemon, crowded):
        count = len(requests.get(f"{running.url}/v1/connectors", timeout=5).json())
        yield Scenario(
            f"GET /v1/commands, {count} connectors", load.Load(f"{running.url}/v1/commands"), running
        )
    echo = {"text": "hello", "spiff__task_data": {}}
    for name, mode in (("bench", "in-process"), ("bench_isolated", "isolated")):
        url = f"{daemon.url}/v1/do/{name}/Echo"
        yield Scenario(f"POST /v1/do/{name}/Echo ({mode})", load.Load(url, echo), daemon)
    # the CPU is the aggregating daemon's: what passing a call on costs it (the remote's is Echo's)
    url = f"{aggregating.url}/v1/do/bench/Echo"
    yield Scenario(HOP, load.Load(url, echo), aggregating)


def _twins(upstream: Upstream, twin: RunningDaemon, rev: str) -> Iterator[Scenario]:
    """The in-process scenarios again, on commit ``rev``'s daemon."""
    forward = {"url": upstream.url, "spiff__task_id": "bench", "spiff__task_data": {}}
    yield Scenario(f"{FORWARD} @ {rev}", load.Load(f"{twin.url}/v1/do/http/GetRequestV2", forward), twin)
    yield Scenario(f"GET /v1/commands @ {rev}", load.Load(f"{twin.url}/v1/commands"), twin)
    echo = {"text": "hello", "spiff__task_data": {}}
    yield Scenario(
        f"POST /v1/do/bench/Echo (in-process) @ {rev}", load.Load(f"{twin.url}/v1/do/bench/Echo", echo), twin
    )


Sample = tuple[load.Figures, float | None]


def _measure(
    scenarios: list[Scenario], rounds: int, duration: float, levels: tuple[int, ...], tools: bool
) -> dict[tuple[str, int], list[Sample]]:
    samples: dict[tuple[str, int], list[Sample]] = defaultdict(list)
    for _ in range(rounds):
        for concurrency in levels:
            for scenario in scenarios:  # interleaved: drift spreads over every row alike
                samples[scenario.name, concurrency].append(_one(scenario, concurrency, duration, tools))
    return samples


def _one(scenario: Scenario, concurrency: int, duration: float, tools: bool) -> Sample:
    master = scenario.daemon.process.pid if scenario.daemon else None
    pids = [master, *procstats.descendants(master)] if master else []  # isolated workers count too
    before = procstats.cpu_seconds(pids)
    figures = load.drive(scenario.load, concurrency, duration, tools)
    spent = procstats.cpu_seconds(pids) - before
    cpu_ms = spent * 1000 / figures.requests if scenario.daemon and figures.requests else None
    return figures, cpu_ms


def _startup(config: Path, python: Path | None = None, tree: Path | None = None) -> float:
    """Seconds from spawning ``connector-proxy serve`` (another tree's, given its python) to its first 200."""
    daemon = RunningDaemon(config, python=python or sys.executable, cwd=tree)
    try:
        return daemon.wait_ready()
    finally:
        daemon.stop()


def _rows(
    samples: dict[tuple[str, int], list[Sample]], levels: tuple[int, ...], scenarios: list[Scenario]
) -> list[Row]:
    rows = []
    for concurrency in levels:
        direct = samples[DIRECT, concurrency]
        for scenario in scenarios:
            runs = samples[scenario.name, concurrency]
            cpu = [c for _, c in runs if c is not None]
            rows.append(
                Row(
                    scenario=scenario.name,
                    concurrency=concurrency,
                    rate=_median(runs, lambda f: f.rate),
                    p50_ms=_median(runs, lambda f: f.p50_ms),
                    p99_ms=_median(runs, lambda f: f.p99_ms),
                    cpu_ms=statistics.median(cpu) if cpu else None,
                    p50_ratio=statistics.median(
                        f.p50_ms / d.p50_ms for (f, _), (d, _) in zip(runs, direct, strict=True)
                    ),
                    failures=sum(f.failures for f, _ in runs),
                )
            )
    return rows


def _median(runs: list[Sample], figure: Callable[[load.Figures], float]) -> float:
    return statistics.median(figure(f) for f, _ in runs)


def render(report: Report) -> str:
    lines = [
        "| scenario | c | req/s | p50 ms | p99 ms | server CPU ms/req | p50 / direct | failures |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report.rows:
        cpu = f"{row.cpu_ms:.3f}" if row.cpu_ms is not None else "-"
        lines.append(
            f"| {row.scenario} | {row.concurrency} | {row.rate:,.0f} | {row.p50_ms:.3f} | {row.p99_ms:.3f}"
            f" | {cpu} | {row.p50_ratio:.1f}x | {row.failures} |"
        )
    lines += ["", f"Upstream: {report.upstream}. Load generator: {report.generator}.", "", *_targets(report)]
    if report.against:
        lines += ["", *_beside(report, report.against)]
    return "\n".join(lines) + "\n"


def _beside(report: Report, rev: str) -> list[str]:
    """This tree's figures as multiples of commit ``rev``'s, scenario by scenario."""
    rows = {(row.scenario, row.concurrency): row for row in report.rows}
    lines = [
        f"This tree as a multiple of {rev} (same run):",
        "",
        "| scenario | c | server CPU per request | p50 | req/s |",
        "|---|---|---|---|---|",
    ]
    for (name, concurrency), theirs in rows.items():
        if not name.endswith(f" @ {rev}"):
            continue
        ours = rows.get((_ours(name.removesuffix(f" @ {rev}")), concurrency))
        if ours is None or not theirs.rate:
            continue
        cpu = f"{ours.cpu_ms / theirs.cpu_ms:.2f}x" if ours.cpu_ms and theirs.cpu_ms else "-"
        lines.append(
            f"| {ours.scenario} | {concurrency} | {cpu} | {ours.p50_ms / theirs.p50_ms:.2f}x"
            f" | {ours.rate / theirs.rate:.2f}x |"
        )
    if report.other_startup_s:
        lines += [
            "",
            f"- start-up: {report.startup_s * 1000:.0f} ms, {rev}: {report.other_startup_s * 1000:.0f} ms",
        ]
    return lines


def _ours(name: str) -> str:
    return "GET /v1/commands, 5 connectors" if name == "GET /v1/commands" else name


def _targets(report: Report) -> list[str]:
    rows = {(row.scenario, row.concurrency): row for row in report.rows}
    lines = [
        f"- start-up to first answer: {report.startup_s * 1000:.0f} ms (target < 1000 ms)",
        f"- RSS per worker ({report.workers} workers): {report.rss_mib:.1f} MiB (target < 60 MiB)",
    ]
    direct, forward = rows.get((DIRECT, 1)), rows.get((FORWARD, 1))
    if direct and forward:
        lines.append(
            f"- forwarding adds {forward.p50_ms - direct.p50_ms:.3f} ms at p50 (target <= 1.0) and"
            f" {forward.p99_ms - direct.p99_ms:.3f} ms at p99 (target <= 2.0), concurrency 1"
        )
    cpu = [row.cpu_ms for row in report.rows if row.scenario == FORWARD and row.cpu_ms is not None]
    if cpu:
        lines.append(f"- server CPU per forwarded call: {min(cpu):.3f} to {max(cpu):.3f} ms (target <= 1.0)")
    catalog = [
        row for row in report.rows if row.scenario.startswith("GET /v1/commands") and row.concurrency == 8
    ]
    if len(catalog) == 2:
        few, many = catalog
        lines.append(
            f"- GET /v1/commands at c=8: {few.rate:,.0f} req/s ({few.scenario.split(', ')[1]}) and"
            f" {many.rate:,.0f} req/s ({many.scenario.split(', ')[1]}) (target >= 4,000 and the same)"
        )
    return lines


def _document(text: str, options: argparse.Namespace) -> str:
    machine = f"{platform.machine()}, {_cores()} cores, Linux {platform.release()}"
    machine += f", Python {platform.python_version()}"
    return (
        "# Benchmark results\n\n"
        f"Run on {time.strftime('%Y-%m-%d')} on {machine}.\n"
        f"Command: `.venv/bin/python -m bench --rounds {options.rounds} --duration {options.duration:g}"
        f"{' --resilience' if options.resilience else ''}{' --inbound' if options.inbound else ''}"
        f"{f' --against {options.against}' if options.against else ''}"
        " --write bench/RESULTS.md`.\n"
        "Each figure is the median of the rounds; ratios are taken within a round.\n\n" + text
    )


def _cores() -> int:
    return len(os.sched_getaffinity(0))

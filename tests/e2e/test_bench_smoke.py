"""The benchmark is not run in CI, only checked to work, with the smallest settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import load

ROOT = Path(__file__).parents[2]


def test_the_benchmark_runs_and_prints_its_table(tmp_path: Path) -> None:
    report = tmp_path / "RESULTS.md"
    smallest = ["--rounds", "1", "--duration", "1", "--concurrency", "1", "--dummies", "3", "--startups", "1"]
    smallest.append("--no-tools")  # what any machine has: the same run whether wrk and nginx exist or not
    done = subprocess.run(
        [sys.executable, "-m", "bench", *smallest, "--write", str(report)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )

    assert done.returncode == 0, done.stderr
    rows = [line.split(" | ")[0].strip("| ") for line in done.stdout.splitlines() if line.startswith("| ")]
    counts = [int(row.split(", ")[1].split()[0]) for row in rows if row.startswith("GET /v1/commands")]
    assert counts[1] == counts[0] + 3  # the dummy packages
    assert [row.split(", ")[0] for row in rows[1:]] == [
        "upstream",
        "POST /v1/do/http/GetRequestV2",
        "GET /v1/commands",
        "GET /v1/commands",
        "POST /v1/do/bench/Echo (in-process)",
        "POST /v1/do/bench_isolated/Echo (isolated)",
        "POST /v1/do/bench/Echo (through another proxy)",
    ]
    assert "start-up to first answer" in done.stdout
    assert report.read_text().startswith("# Benchmark results")


def test_the_inbound_benchmark_runs_and_prints_its_table() -> None:
    smallest = ["--duration", "1", "--concurrency", "2", "--rate", "20", "--no-tools"]
    done = subprocess.run(
        [sys.executable, "-m", "bench.inbound", *smallest],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )

    assert done.returncode == 0, done.stderr
    cells = [line.strip("| ").split(" | ") for line in done.stdout.splitlines() if line.startswith("| ")]
    figures = {row[0].split(" ")[0]: row[1] for row in cells}
    accepted, stored, failures = (int(n.replace(",", "")) for n in figures["202"].split(" / "))
    assert accepted > 0 and stored >= accepted and failures == 0
    assert figures["delay"].endswith("(20 delivered)")


WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:8080/items
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   103.21us  200.10us   5.62ms   97.12%
    Req/Sec    42.01k     3.10k   46.53k    78.33%
  Latency Distribution
     50%   96.00us
     75%  110.00us
     90%  131.00us
     99%    1.89ms
  250650 requests in 3.00s, 50.20MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  83507.11
"""


def test_wrk_output_is_read_with_its_units() -> None:
    figures = load.parse_wrk(WRK_OUTPUT)

    assert (figures.requests, figures.seconds) == (250650, 3.0)
    assert (figures.p50_ms, figures.p99_ms) == (0.096, 1.89)
    assert figures.failures == 7

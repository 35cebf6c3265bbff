"""The benchmark is not run in CI, only checked to work, with the smallest settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_benchmark_runs_and_prints_its_table(tmp_path: Path) -> None:
    report = tmp_path / "RESULTS.md"
    smallest = ["--rounds", "1", "--duration", "1", "--concurrency", "1", "--dummies", "3", "--startups", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "bench", *smallest, "--write", str(report)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )

    assert done.returncode == 0, done.stderr
    rows = [line.split(" | ")[0].strip("| ") for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[1:] == [
        "upstream, direct",
        "POST /v1/do/http/GetRequestV2",
        "GET /v1/commands, 2 connectors",
        "GET /v1/commands, 5 connectors",
        "POST /v1/do/bench/Echo (in-process)",
    ]
    assert "start-up to first answer" in done.stdout
    assert report.read_text().startswith("# Benchmark results")

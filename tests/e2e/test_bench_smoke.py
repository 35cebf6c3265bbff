"""The benchmark is not run in CI, only checked to work (with a handful of requests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "latency.py"


def test_the_latency_benchmark_runs_and_prints_its_table() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--requests", "5"], capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["scenario", "p50", "ms", "p99", "ms"]
    assert [line.split("  ")[0] for line in lines[1:]] == [
        "upstream, direct",
        "GET /v1/commands",
        "POST /v1/do/http/GetRequestV2",
    ]

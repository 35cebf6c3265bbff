"""The benchmark is not run in CI, only checked to work, with the smallest settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import load, peer, profile
from bench.upstreams import Upstream

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


def test_the_peer_is_found_in_a_checkout_and_run_as_its_files_say(tmp_path: Path) -> None:
    """bench.peer reads async-http from a spiff-arena checkout; a folder shaped like it stands in."""
    folder = tmp_path / "spiff-arena" / "connector-proxies" / "async-http"
    (folder / "bin").mkdir(parents=True)
    (folder / "main.py").write_text("app = None\n")
    (folder / "requirements.txt").write_text("granian\n")
    (folder / "bin" / "boot_server_in_docker").write_text("port=7004\nworkers=5\nexec granian\n")
    (folder / "Dockerfile").write_text("FROM python:3.99.1-slim\n")

    assert peer.find_checkout(str(tmp_path / "spiff-arena")) == folder
    assert peer.find_checkout(str(folder)) == folder
    assert peer.shipped_workers(folder) == 5
    assert peer.shipped_python(folder) == sys.executable  # no Python 3.99 here: the bench's own
    with pytest.raises(SystemExit):
        peer.find_checkout(None)
    with pytest.raises(SystemExit):
        peer.find_checkout(str(tmp_path))


def test_the_peer_table_takes_its_ratios_within_a_round() -> None:
    def figures(rate: float, p50_ms: float) -> load.Figures:
        return load.Figures(requests=int(rate), seconds=1.0, p50_ms=p50_ms, p99_ms=2 * p50_ms, failures=0)

    samples: dict[tuple[str, int], list[peer.Sample]] = {
        (peer.DIRECT, 1): [(figures(1000, 0.1), None), (figures(500, 0.2), None)],
        (peer.OURS, 1): [(figures(400, 1.1), 1.0), (figures(200, 2.2), 2.0)],
        (peer.PEER, 1): [(figures(100, 2.1), 4.0), (figures(50, 4.2), 8.0)],
    }
    memories = {name: [peer.Memory(50.0, 20.0, 10.0)] for name in (peer.OURS, peer.PEER)}
    starts = {peer.OURS: [0.5], peer.PEER: [0.25]}
    upstream = Upstream("http://127.0.0.1:1/items", "nginx")

    text = peer.render(samples, memories, starts, (1,), upstream, "granian, 3", None, "1 1 1")

    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    # each round the machine ran at another speed: the ratio holds in both, the medians mix them
    assert rows["server CPU per call, c=1 (ms)"].endswith("| 0.25x |")
    assert rows["added p50 at c=1 (ms)"].endswith("| 0.50x |")
    assert rows["req/s, c=1"].endswith("| 4.00x |")
    assert (
        rows["start-up to first answer, median (ms)"]
        == "| start-up to first answer, median (ms) | 500 | 250 | 2.00x |"
    )


def test_profile_samples_are_grouped_by_package_and_ours_by_module() -> None:
    stacks = profile.read_stacks(
        "serve (gunicorn/workers/ggevent.py:1);send (gevent/_socketcommon.py:716) 6\n"
        "serve (gunicorn/workers/ggevent.py:1);_exchange (connector_proxy/sdk/outbound.py:9) 3\n"
        "serve (gunicorn/workers/ggevent.py:1);parse (gunicorn/http/message.py:377) 1\n"
    )

    every = profile.shares(stacks)
    assert every == {"gevent hub and sockets": 0.6, "ours: connector_proxy.sdk": 0.3, "gunicorn": 0.1}
    assert profile.shares(stacks, "send (gevent/")["ours: connector_proxy.sdk"] == 0.75

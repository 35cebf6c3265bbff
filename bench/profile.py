"""Where a forwarded call's time goes: py-spy in the one gevent worker of a daemon under wrk.

    .venv/bin/python -m bench.profile [--seconds 15] [--concurrency 8] [--rate 500] [--raw FILE]

The daemon runs on the defaults but for ``server.workers = 1`` (every call in
the sampled process), forwarding ``GET`` of nginx's small JSON document
(``POST /v1/do/http/GetRequestV2``) while wrk holds ``--concurrency``
connections. py-spy (``pip install py-spy``; not a dependency of the project)
samples the worker without stopping it; each sample is counted once, under
the package of its innermost frame, and printed as shares. The samples in
gevent's ``send()`` are also left out in a second column: on a busy machine
that syscall is where a descheduled worker is found, and it swamps the rest.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

from bench import load, resilience
from bench.upstreams import fast_upstream
from connector_proxy.testing import RunningDaemon

SEND = "SocketMixin.send (gevent/_socketcommon.py"
# (group, pattern on the innermost frame's file), first match wins; our own code is grouped by module
GROUPS = (
    ("the http connector", r"connector_proxy_http/"),
    ("gevent hub and sockets", r"^(gevent|greenlet|socket\.py|selectors\.py|ssl\.py)"),
    ("gunicorn", r"^gunicorn/"),
    ("urllib3", r"^urllib3/"),
    ("Flask + Werkzeug", r"^(flask|werkzeug|blinker|itsdangerous)/"),
    ("http.client + email", r"^(http/client\.py|email/)"),
    ("jsonschema (+referencing, rpds)", r"^(jsonschema|referencing|rpds|jsonschema_rs)/"),
    ("prometheus_client", r"^prometheus_client/"),
    ("json, msgspec", r"^(json|msgspec)/"),
    ("logging", r"^logging/"),
)
INCLUSIVE = (
    ("the outbound call (any urllib3 frame)", "(urllib3/"),
    ("jsonschema (any frame)", "(jsonschema/"),
    ("our executor (any frame)", "Executor."),
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=15, help="seconds sampled")
    parser.add_argument("--concurrency", type=int, default=8, help="wrk's connections")
    parser.add_argument("--rate", type=int, default=500, help="samples per second")
    parser.add_argument("--raw", type=Path, help="also keep py-spy's raw (collapsed) stacks here")
    options = parser.parse_args()
    print(render(*profile(options.seconds, options.concurrency, options.rate, options.raw)))


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def profile(seconds: int, concurrency: int, rate: int, raw: Path | None) -> tuple[Counter[str], float]:
    """The collapsed stacks py-spy saw (stack -> samples), and wrk's req/s meanwhile."""
    spy = py_spy()
    with tempfile.TemporaryDirectory() as folder, fast_upstream() as upstream:
        config = Path(folder) / "daemon.toml"
        config.write_text(resilience.CONFIG.replace("[server]\n", "[server]\nworkers = 1\n", 1))
        with RunningDaemon(config).ready() as daemon:
            (worker,) = daemon.worker_pids()
            forward = {"url": upstream.url, "spiff__task_id": "bench", "spiff__task_data": {}}
            shape = load.Load(f"{daemon.url}/v1/do/http/GetRequestV2", forward)
            load.drive(shape, concurrency, 2)  # warm: pools filled, first-call imports done
            figures: list[load.Figures] = []
            driving = threading.Thread(
                target=lambda: figures.append(load.drive(shape, concurrency, seconds + 2))
            )
            driving.start()
            stacks = Path(folder) / "stacks.txt"
            record = [spy, "record", "--nonblocking", "-r", str(rate), "-d", str(seconds), "-f", "raw"]
            subprocess.run([*record, "-o", str(stacks), "-p", str(worker)], check=True, capture_output=True)
            driving.join()
            if raw:
                shutil.copyfile(stacks, raw)
            return read_stacks(stacks.read_text()), figures[0].rate


def read_stacks(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            counts[stack] += int(count)
    return counts


def group(frame: str) -> str:
    """The group of one ``function (path:line)`` frame: ours by module, the rest by package."""
    found = re.search(r"\(([^:]+):", frame)
    path = found.group(1) if found else frame
    if path.startswith("connector_proxy/"):
        parts = path.split("/")
        return "ours: connector_proxy." + parts[1].removesuffix(".py")
    for name, pattern in GROUPS:
        if re.search(pattern, path):
            return name if name != "the http connector" else "ours: the http connector"
    return "the rest"


def shares(stacks: Counter[str], leave_out: str | None = None) -> dict[str, float]:
    tally: Counter[str] = Counter()
    for stack, count in stacks.items():
        innermost = stack.rsplit(";", 1)[-1]
        if leave_out and innermost.startswith(leave_out):
            continue
        tally[group(innermost)] += count
    total = sum(tally.values()) or 1
    return {name: count / total for name, count in tally.items()}


def render(stacks: Counter[str], rate: float) -> str:
    total = sum(stacks.values())
    every, quiet = shares(stacks), shares(stacks, SEND)
    ours = sorted((name for name in every if name.startswith("ours")), key=lambda name: -every[name])
    others = sorted((name for name in every if not name.startswith("ours")), key=lambda name: -every[name])
    lines = [
        "| group | share of samples | leaving out gevent's send() |",
        "|---|---|---|",
    ]
    for name in [*others, *ours]:
        lines.append(f"| {name} | {every[name]:.1%} | {quiet.get(name, 0.0):.1%} |")
    mine = sum(every[name] for name in ours)
    lines.append(f"| ours, all | {mine:.1%} | {sum(quiet.get(name, 0.0) for name in ours):.1%} |")
    sent = sum(count for stack, count in stacks.items() if stack.rsplit(";", 1)[-1].startswith(SEND))
    lines += ["", f"{total} samples at {rate:,.0f} req/s; in gevent's send(): {sent / (total or 1):.1%}."]
    for label, marker in INCLUSIVE:
        inside = sum(count for stack, count in stacks.items() if marker in stack)
        lines.append(f"- {label}: {inside / (total or 1):.1%} of the samples")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""What reading a request body costs per MiB, this tree's ``jsontext.loads`` beside another commit's.

    .venv/bin/python -m bench.jsonread [--against REV] [--mib 2] [--rounds 7]

Three bodies shaped like SpiffWorkflow task data (many small objects, long strings, numbers) are
read by both readers in one run, alternating, median of the rounds: a ratio never compares two days.
The other commit's module is taken with ``git show REV:connector_proxy/host/jsontext.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from connector_proxy.host import jsontext

ROOT = Path(__file__).parents[1]


def bodies(mib: float) -> dict[str, bytes]:
    """Task data of about ``mib`` MiB each, in three shapes."""
    shuffled = random.Random(7)
    rows = int(mib * 12000)
    shapes: dict[str, Any] = {
        "objects": {
            "rows": [{"id": i, "name": f"n{i}", "v": shuffled.random(), "ok": True} for i in range(rows)]
        },
        "strings": {"notes": ["lorem ipsum dolor sit amet, consectetur: adipiscing " * 4] * int(mib * 5000)},
        "numbers": {"series": [shuffled.random() * 1e6 for _ in range(int(mib * 55000))]},
    }
    return {
        name: json.dumps({"url": "http://x", "spiff__task_data": data}).encode()
        for name, data in shapes.items()
    }


def other(rev: str, folder: Path) -> ModuleType:
    """``jsontext`` as commit ``rev`` has it, loaded under another name."""
    text = subprocess.run(
        ["git", "show", f"{rev}:connector_proxy/host/jsontext.py"],  # noqa: S607 - git from PATH, as a developer runs it
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = folder / "jsontext_other.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("jsontext_other", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def median_ms(read: Callable[[bytes], Any], raw: bytes, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        read(raw)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--against", default="HEAD~1", help="the commit to compare with (default HEAD~1)")
    parser.add_argument("--mib", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        before = other(arguments.against, Path(folder))
        print(f"| body | MiB | {arguments.against} ms/MiB | this tree ms/MiB | ratio |")
        print("|---|---|---|---|---|")
        for name, raw in bodies(arguments.mib).items():
            mib = len(raw) / 2**20
            then = now = 0.0
            for _ in range(3):  # alternate, so a busy moment falls on both
                then += median_ms(before.loads, raw, arguments.rounds)
                now += median_ms(jsontext.loads, raw, arguments.rounds)
            print(f"| {name} | {mib:.2f} | {then / 3 / mib:.1f} | {now / 3 / mib:.1f} | {now / then:.2f}x |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

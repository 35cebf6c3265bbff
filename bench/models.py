"""Big models at POST /v1/validate: how long the check takes, and how long the worker's other calls wait.

    .venv/bin/python -m bench.models [--mib 1.9 --mib 7]

One gevent worker; a BPMN model grown from ``tests/fixtures/models/clean.bpmn`` to each size (its
service task repeated) is checked while a client asks ``/liveness`` every 10 ms on a connection of
its own. A model over ``limits.max_model_bytes`` is refused 413 before it is read; one under it is
checked off the event loop, so liveness should wait a few tens of milliseconds at most, not the
whole check.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import threading
import time
from pathlib import Path

import requests

from connector_proxy.testing import RunningDaemon

ROOT = Path(__file__).parents[1]
CLEAN = (ROOT / "tests" / "fixtures" / "models" / "clean.bpmn").read_text()
CONFIG = """
[server]
workers = 1
log_level = "warning"
[jobs]
sqlite_path = "{folder}/jobs.sqlite3"
"""


def model_of(size: int) -> bytes:
    """The clean model with its service task repeated until the file is just under ``size`` bytes."""
    found = re.search(r"<bpmn:serviceTask.*?</bpmn:serviceTask>", CLEAN, re.S)
    assert found is not None
    task = found.group(0)
    count = max(1, (size - len(CLEAN)) // (len(task) + 8))
    tasks = "".join(task.replace('id="', f'id="t{n}_', 1) for n in range(count))
    return CLEAN.replace(task, tasks).encode()


def measure(url: str, body: bytes) -> tuple[int, float, float]:
    """The answer's status, its time and the longest a liveness request waited meanwhile (ms)."""
    worst = [0.0]
    stop = threading.Event()

    def ping() -> None:
        session = requests.Session()
        while not stop.is_set():
            started = time.perf_counter()
            session.get(f"{url}/liveness", timeout=30)
            worst[0] = max(worst[0], time.perf_counter() - started)
            time.sleep(0.01)

    pinger = threading.Thread(target=ping)
    pinger.start()
    time.sleep(0.3)
    started = time.perf_counter()
    answer = requests.post(
        f"{url}/v1/validate", data=body, headers={"Content-Type": "application/xml"}, timeout=120
    )
    took = time.perf_counter() - started
    time.sleep(0.2)
    stop.set()
    pinger.join()
    return answer.status_code, took * 1000, worst[0] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=float, action="append", default=[])
    sizes = parser.parse_args().mib or [1.9, 7.0]
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "plugins.toml"
        config.write_text(CONFIG.format(folder=folder))
        with RunningDaemon(config) as daemon:
            print("| model | status | answered in | liveness waited at most |")
            print("|---|---|---|---|")
            for mib in sizes:
                body = model_of(int(mib * 1024 * 1024))
                status, took, waited = measure(daemon.url, body)
                print(f"| {len(body) / 1048576:.2f} MiB | {status} | {took:.0f} ms | {waited:.0f} ms |")


if __name__ == "__main__":
    main()

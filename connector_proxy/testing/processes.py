"""Programs a test starts: the daemon under gunicorn, moto's server, any other, each in a process
group of its own and stopped with everything it started (at the latest when the interpreter exits)."""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self
from urllib.parse import urlsplit

from connector_proxy.sdk.testing import free_port

SERVE = [sys.executable, "-m", "connector_proxy", "serve"]
START_SECONDS_ENV = "CONNECTOR_PROXY_TEST_START_SECONDS"


def start_seconds() -> float:
    """How long a test waits for what it starts (a daemon, moto, a worker) to answer: the one setting
    ``CONNECTOR_PROXY_TEST_START_SECONDS``, else 60 s, 120 s under CI (``CI=true``): a busy machine
    starts slowly, and waiting longer costs nothing when it starts at once."""
    given = os.environ.get(START_SECONDS_ENV, "").strip()
    if given:
        return float(given)
    return 120.0 if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes") else 60.0


_owned: dict[int, subprocess.Popen[Any]] = {}  # what tests started, by process group; stop_all ends it


def start_owned(arguments: list[str], **options: Any) -> subprocess.Popen[Any]:
    """Start a program in a process group of its own, stopped with everything it started by
    :func:`stop_owned` or, whatever the test's end, :func:`stop_all` (at exit, or a conftest's)."""
    process: subprocess.Popen[Any] = subprocess.Popen(arguments, start_new_session=True, **options)  # noqa: S603
    _owned[process.pid] = process
    return process


def stop_owned(process: subprocess.Popen[Any], timeout: float = 30) -> int:
    """SIGTERM (a graceful stop) and wait up to ``timeout``; then SIGKILL to its whole process group,
    so nothing it started outlives it (a worker, a program, a grandchild)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        status = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        status = process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # its group bears its pid (start_new_session)
    _owned.pop(process.pid, None)
    return status


def stop_all() -> None:
    """Stop every process :func:`start_owned` started that is still owned: an interrupted run
    (Ctrl-C), a fixture that never reached its finalizer."""
    for pid, process in list(_owned.items()):
        if process.returncode is not None:  # reaped by its test already: its pid may be another's now
            _owned.pop(pid, None)
            continue
        stop_owned(process, timeout=5)


atexit.register(stop_all)


class RunningDaemon:
    """The daemon under gunicorn in a child process, on a free port of 127.0.0.1.

    ``site`` folders are put on ``PYTHONPATH``, so connectors described by a
    ``*.dist-info`` there are discovered without being installed; ``python``
    is the interpreter it runs under (another virtual environment's, say), and
    ``cwd`` where it starts.
    """

    def __init__(
        self,
        config: Path,
        environ: Mapping[str, str] | None = None,
        site: tuple[Path, ...] = (),
        output: IO[bytes] | int | None = subprocess.DEVNULL,
        python: str | Path = sys.executable,
        cwd: str | Path | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **(environ or {})}
        if site:
            env["PYTHONPATH"] = os.pathsep.join(str(folder) for folder in site)
        self.started = time.perf_counter()
        self.process = start_owned(  # our own interpreter and module, no shell
            [str(python), *SERVE[1:], "--config", str(config), "--bind", f"127.0.0.1:{self.port}"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=cwd,  # `-m` reads modules from here first: another tree's daemon starts in that tree
        )

    def wait_ready(self, seconds: float | None = None, poll: float = 0.005) -> float:
        """Wait for ``/liveness`` to answer 200 (at most :func:`start_seconds`); the seconds since the
        process started."""
        seconds = start_seconds() if seconds is None else seconds
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the daemon exited early with status {self.process.returncode}")
            if self._answers():
                first_answer = time.perf_counter() - self.started
                self._wait_for_every_worker()
                return first_answer
            time.sleep(poll)
        raise RuntimeError(f"the daemon did not answer within {seconds} s")

    def _answers(self) -> bool:
        """One probe of ``/liveness``, its connection closed whatever happens: one left open by a failed
        attempt (kept alive by its exception's traceback) would hold a worker's graceful stop for
        ``limits.header_timeout``."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            connection.request("GET", "/liveness")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):  # not listening yet, or no worker up yet
            return False
        finally:
            connection.close()

    def _wait_for_every_worker(self, seconds: float = 5) -> None:
        """The first worker answers while the master still forks the others: wait until it is done."""
        deadline = time.monotonic() + seconds
        counts = [-1]
        while time.monotonic() < deadline and not (len(counts) > 3 and len(set(counts[-4:])) == 1):
            counts.append(len(self.worker_pids()))
            time.sleep(0.05)

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the master's children."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (graceful), then SIGKILL if it has not exited within ``timeout``; then whatever
        is left of its process group (workers, isolated workers, programs) is killed."""
        return stop_owned(self.process, timeout)

    def ready(self) -> Self:
        """:meth:`wait_ready`, stopping the daemon if it does not come up: never left running."""
        try:
            self.wait_ready()
        except BaseException:
            self.stop(timeout=5)
            raise
        return self

    def kill(self) -> None:
        """SIGKILL the workers and the master at once: a crash, with no chance to clean up."""
        for pid in [*self.worker_pids(), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()
        _owned.pop(self.process.pid, None)

    def __enter__(self) -> Self:
        return self.ready()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def moto_server(seconds: float | None = None) -> Iterator[str]:
    """moto's server (``pip install 'moto[server]'``) on a free port of 127.0.0.1, its URL: AWS over
    real HTTP, boto3's whole wire path. Lambda runs without Docker."""
    port = free_port()
    seconds = start_seconds() if seconds is None else seconds
    server = start_owned(  # our own interpreter, moto's module
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_answer(f"{url}/moto-api/", time.monotonic() + seconds)
        _post_json(f"{url}/moto-api/config", {"lambda": {"use_docker": False}})
        yield url
    finally:
        stop_owned(server, timeout=10)


def _wait_for_answer(url: str, deadline: float) -> None:
    parts = urlsplit(url)
    while True:
        try:
            connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=1)
            connection.request("GET", parts.path)
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing answered at {url}") from None
            time.sleep(0.1)


def _post_json(url: str, document: Any) -> None:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
    connection.request("POST", parts.path, json.dumps(document), {"Content-Type": "application/json"})
    connection.getresponse().read()
    connection.close()

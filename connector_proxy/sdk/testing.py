"""Run the real daemon from a test or a benchmark, as ``connector-proxy serve`` would.

Connector authors can use it for their own end-to-end tests:

    with RunningDaemon(config_path, site=my_test_site) as daemon:
        requests.post(f"{daemon.url}/v1/do/mine/DoIt", json={...})

Nothing here is imported by the daemon itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

import requests

SERVE = [sys.executable, "-m", "connector_proxy", "serve"]


def free_port() -> int:
    """A port nobody listens on at this moment, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RunningDaemon:
    """The daemon under gunicorn in a child process, on a free port of 127.0.0.1.

    ``site`` folders are put on ``PYTHONPATH``, so connectors described by a
    ``*.dist-info`` there are discovered without being installed.
    """

    def __init__(
        self,
        config: Path,
        environ: Mapping[str, str] | None = None,
        site: tuple[Path, ...] = (),
        output: IO[bytes] | int | None = subprocess.DEVNULL,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **(environ or {})}
        if site:
            env["PYTHONPATH"] = os.pathsep.join(str(folder) for folder in site)
        self.started = time.perf_counter()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            [*SERVE, "--config", str(config), "--bind", f"127.0.0.1:{self.port}"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, seconds: float = 20, poll: float = 0.005) -> float:
        """Wait for ``/liveness`` to answer 200; the seconds since the process started."""
        deadline = time.monotonic() + seconds
        with requests.Session() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the daemon exited early with status {self.process.returncode}")
                try:
                    if session.get(f"{self.url}/liveness", timeout=1).status_code == 200:
                        first_answer = time.perf_counter() - self.started
                        self._wait_for_every_worker()
                        return first_answer
                except requests.ConnectionError:
                    time.sleep(poll)
        raise RuntimeError(f"the daemon did not answer within {seconds} s")

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
        """SIGTERM (graceful), then SIGKILL if it has not exited within ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        """SIGKILL the workers and the master at once: a crash, with no chance to clean up."""
        for pid in [*self.worker_pids(), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> RunningDaemon:
        try:
            self.wait_ready()
        except BaseException:
            self.stop(timeout=5)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


class SilentServer:
    """An upstream that accepts connections and never answers: the worst a destination can do."""

    def __init__(self, backlog: int = 512) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(backlog)
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                self._held.append(self._server.accept()[0])
            except TimeoutError:
                continue

    def open_connections(self) -> int:
        """Accepted connections the client has not closed yet."""
        return sum(_still_open(connection) for connection in list(self._held))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for connection in self._held:
            connection.close()
        self._server.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _still_open(connection: socket.socket) -> bool:
    """Read what the client sent (nobody will answer it) until its end, if it has come."""
    try:
        while connection.recv(65536, socket.MSG_DONTWAIT):
            continue
    except BlockingIOError:
        return True  # no end of stream: the client still holds the connection
    except OSError:
        return False
    return False


@contextmanager
def silent_server(backlog: int = 512) -> Iterator[str]:
    """A SilentServer's URL, for the tests that need nothing more."""
    with SilentServer(backlog) as server:
        yield server.url

"""What each worker process runs besides answering requests, started and stopped in one place.

Processes, pipes, threads and pooled sockets must not cross a fork, so
nothing here starts in gunicorn's master: a worker starts it once it is up
(``post_worker_init``) and stops it on its way out (``worker_exit``), letting
running jobs finish. ``connector-proxy worker`` does the same around Celery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from connector_proxy.sdk import tracing
from connector_proxy.telemetry.metrics import spans_dropped


class Pool(Protocol):
    """An isolated connector's workers in this process (``isolation.pool.WorkerPool``), named by what is
    asked of them here and of the routes that report them: isolation sits above this module."""

    def start(self) -> None: ...

    def close(self) -> None: ...

    def health(self) -> dict[str, Any]: ...


class Background(Protocol):
    """Threads run in each worker process: the SQLite job backend's, the inbound events' ones."""

    def start(self) -> None: ...

    def stop(self, grace: float) -> None:
        """Take no new work; let what runs finish within ``grace`` seconds."""
        ...


class ProcessServices:
    """The isolated connectors' worker pools and the background threads of one process."""

    def __init__(self, pools: Mapping[str, Pool], backgrounds: Sequence[Background] = ()) -> None:
        self.pools = pools
        self.backgrounds = backgrounds

    def start(self) -> None:
        # its exporter's thread belongs to this process too
        tracing.start("connector-proxy", dropped=spans_dropped)
        for pool in self.pools.values():
            pool.start()  # an isolated connector's workers belong to this process
        for background in self.backgrounds:
            background.start()

    def stop(self, grace: float) -> None:
        for background in self.backgrounds:
            background.stop(grace)  # first: jobs may still call an isolated connector
        for pool in self.pools.values():
            pool.close()
        tracing.stop()  # what is left of its spans is sent

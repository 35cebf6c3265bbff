"""One call timed, counted and logged the same way, whichever path it took (run here, or passed on)."""

from __future__ import annotations

import logging
import time
from types import TracebackType

from connector_proxy.telemetry import metrics


class Timed:
    """In flight from its start; :meth:`done` counts its outcome and logs one line (never a parameter).

    A call ended under it (its client left) is counted abandoned and not logged as done.
    """

    def __init__(self, log: logging.Logger, command_id: str, connector: str = "", command: str = "") -> None:
        self.log, self.command_id = log, command_id
        self.timer = metrics.CallTimer(
            connector, command
        )  # labels are the registry's names, never the client's

    def __enter__(self) -> Timed:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is not None:
            self.timer.done(metrics.ABANDONED, "")

    def done(self, status: int, outcome: str, error_code: str, how: str = "") -> None:
        """``how`` the call went, as its line says (by default its error code, or ``ok``)."""
        self.timer.done(outcome, error_code)
        elapsed = (time.perf_counter() - self.timer.started) * 1000
        self.log.info("%r -> %s %s in %.1f ms", self.command_id, status, how or error_code or "ok", elapsed)

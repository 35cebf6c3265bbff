"""Sending spans without ever holding a call: a bounded queue and one exporter thread.

The OpenTelemetry SDK's ``BatchSpanProcessor`` registers ``os.register_at_fork`` hooks that start a
new thread and take locks in every forked child. Under gevent, ``subprocess`` forks from a greenlet
and the child runs those hooks before it execs: the new "thread" is a greenlet, starting it switches
to the hub, and the child goes on running copies of the parent's greenlets (requests, job threads)
instead of the program it was forked for, so the call that started the program waits for ever.

This processor registers no fork hook (and :class:`ForkQuietTracerProvider` silences the
provider's): a forked child inherits a queue and a thread it never uses (the daemon's workers start
their own after the fork, :func:`connector_proxy.sdk.tracing.start`). A span ending costs a length
check and an append; when the queue is full, or the collector is down, refusing, hung or slow, spans
are dropped and counted, never waited for. Only the standard library and the OpenTelemetry SDK are
used: an isolated connector's worker exports this way too.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Mapping, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

QUEUE_FULL = "queue_full"  # more spans ended than the collector took in time
EXPORT_FAILED = "export_failed"  # the collector was down, refused, hung past the timeout, or failed
SHUTDOWN = "shutdown"  # still queued when the process stopped exporting
STOP_SECONDS = 5.0  # the most a process's exit waits for its last spans
log = logging.getLogger(__name__)

Dropped = Callable[[str, int], None]


def _number(environ: Mapping[str, str], name: str, default: int) -> int:
    try:
        value = int(environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


class ForkQuietTracerProvider(TracerProvider):
    """The SDK's provider without its work in forked children.

    Its fork hook re-reads the resource's process-dependent detectors through a thread pool, in the
    child, between fork and exec: under gevent the pool's threads are greenlets and waiting on them
    runs the parent's other greenlets in the child (the hang above). The hook is registered by the
    SDK's constructor and calls this method: here it does nothing. A forked child that goes on as
    a Python process (a gunicorn worker) builds its own provider in :func:`tracing.start`.
    """

    def _handle_fork(self) -> None:
        return None


class BoundedSpanProcessor(SpanProcessor):
    """Queue ended spans (at most ``max_queue``) for one thread that exports them in batches."""

    def __init__(
        self,
        exporter: SpanExporter,
        dropped: Dropped,
        max_queue: int = 2048,
        batch: int = 512,
        delay: float = 5.0,
    ) -> None:
        self._exporter = exporter
        self._dropped = dropped
        self._max_queue = max_queue
        self._batch = max(1, min(batch, max_queue))
        self._delay = delay
        self._queue: collections.deque[ReadableSpan] = collections.deque()  # appends are atomic
        self._wake = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name="span-exporter", daemon=True)
        self._thread.start()

    @classmethod
    def from_environment(
        cls, exporter: SpanExporter, dropped: Dropped, environ: Mapping[str, str]
    ) -> BoundedSpanProcessor:
        """Sized as the standard ``OTEL_BSP_*`` variables say (the SDK's defaults otherwise)."""
        return cls(
            exporter,
            dropped,
            max_queue=_number(environ, "OTEL_BSP_MAX_QUEUE_SIZE", 2048),
            batch=_number(environ, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512),
            delay=_number(environ, "OTEL_BSP_SCHEDULE_DELAY", 5000) / 1000,
        )

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if self._done or not span.context.trace_flags.sampled:
            return
        if len(self._queue) >= self._max_queue:  # a check and an append: never a wait, never a lock
            self._dropped(QUEUE_FULL, 1)
            return
        self._queue.append(span)
        if len(self._queue) >= self._batch:
            self._wake.set()

    def _run(self) -> None:
        while not self._done:
            self._wake.wait(self._delay)
            self._wake.clear()
            while self._queue and not self._done:
                self._export(self._take())

    def _take(self) -> list[ReadableSpan]:
        taken: list[ReadableSpan] = []
        while self._queue and len(taken) < self._batch:
            taken.append(self._queue.popleft())
        return taken

    def _export(self, spans: Sequence[ReadableSpan]) -> None:
        try:
            result = self._exporter.export(spans)
        except Exception:  # whatever the exporter raises, only these spans are lost
            log.debug("spans not exported", exc_info=True)
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self._dropped(EXPORT_FAILED, len(spans))

    def shutdown(self) -> None:
        """Export what is queued, waiting at most ``STOP_SECONDS``; what is left is dropped."""
        if self._done:
            return
        self._done = True
        self._wake.set()
        self._thread.join(STOP_SECONDS)
        if not self._thread.is_alive():  # else it is stuck on the collector: the rest is dropped
            last = threading.Thread(target=self._last, name="span-exporter-last", daemon=True)
            last.start()
            last.join(STOP_SECONDS)
        if self._queue:
            self._dropped(SHUTDOWN, len(self._queue))
            self._queue.clear()

    def _last(self) -> None:
        while self._queue:
            self._export(self._take())
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._wake.set()
        return True


def counted(sink: Callable[[str, int], None] | None) -> Dropped:
    """A drop counter: ``sink`` (the daemon's metric) if given, else a debug log line."""
    if sink is not None:
        return sink

    def logged(reason: str, count: int) -> None:
        log.debug("%d span(s) dropped: %s", count, reason)

    return logged

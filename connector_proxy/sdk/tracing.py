"""OpenTelemetry tracing, off unless the standard ``OTEL_*`` variables turn it on.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) set, and neither
``OTEL_SDK_DISABLED=true`` nor ``OTEL_TRACES_EXPORTER=none``, each process that calls :func:`start`
(a daemon worker after the fork, a job worker, an isolated connector's worker) sends its spans over
OTLP/HTTP, configured as the OpenTelemetry SDK reads those variables (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_*``…). A W3C ``traceparent`` given by the host is
continued; one is sent with every upstream request, callback and message, and carried to an
isolated worker in its call. Otherwise nothing of OpenTelemetry is imported and each function here
costs one test of a flag. Attributes name connectors, commands and the host's ids, never a value a
call carries.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

TRACEPARENT = "traceparent"
_tracer: Any = None  # an OpenTelemetry tracer once start() found tracing configured
_provider: Any = None
_kinds: dict[str, Any] = {}
_owner = 0  # the process that started it: a forked child starts its own


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the environment asks for traces to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def start(
    service: str, environ: Mapping[str, str] = os.environ, dropped: Callable[[str, int], None] | None = None
) -> bool:
    """Export this process's spans if the environment asks (once per process); whether it does.
    ``dropped(reason, count)`` counts the spans not sent (:mod:`connector_proxy.sdk.exporting`)."""
    global _tracer, _provider, _owner
    if (_tracer is not None and _owner == os.getpid()) or not wanted(environ):
        return active()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.trace import SpanKind

        from connector_proxy.sdk.exporting import BoundedSpanProcessor, ForkQuietTracerProvider, counted
        from connector_proxy.sdk.masked_export import MaskingExporter
    except ImportError as missing:  # an isolated connector's environment without the SDK: no spans there
        logging.getLogger(__name__).warning(
            "tracing is asked for, but %s is not installed here", missing.name
        )
        return False

    named = {} if environ.get("OTEL_SERVICE_NAME") else {"service.name": service}
    # neither the SDK's BatchSpanProcessor nor its provider's fork hook: they hang programs started
    # under gevent (connector_proxy.sdk.exporting)
    exporting = BoundedSpanProcessor.from_environment(
        MaskingExporter(OTLPSpanExporter()),
        counted(dropped),
        environ,
    )
    _provider = ForkQuietTracerProvider(resource=Resource.create(named), shutdown_on_exit=False)
    _provider.add_span_processor(exporting)
    _tracer = _provider.get_tracer("connector_proxy")
    _kinds.update(internal=SpanKind.INTERNAL, server=SpanKind.SERVER, client=SpanKind.CLIENT)
    _owner = os.getpid()
    return True


def stop() -> None:
    """Send what is left and stop exporting (at the process's exit)."""
    global _tracer, _provider
    if _provider is not None and _owner == os.getpid():
        _provider.shutdown()
    _tracer = _provider = None


def active() -> bool:
    return _tracer is not None and _owner == os.getpid()


@contextlib.contextmanager
def span(name: str, kind: str = "internal", parent: str | None = None, **attributes: Any) -> Iterator[None]:
    """A span around the block, the current span's child (or, given a ``traceparent``, that one's);
    an exception escaping the block is recorded on it. ``attributes`` with a None value are left out."""
    if not active():
        yield
        return
    context = _extracted({TRACEPARENT: parent}) if parent else None
    with _tracer.start_as_current_span(
        name, context=context, kind=_kinds[kind], attributes=_named(attributes)
    ):
        yield


def note(**attributes: Any) -> None:
    """Set attributes on the current span (``a__b`` names ``a.b``), when tracing."""
    if not active():
        return
    from opentelemetry import trace

    trace.get_current_span().set_attributes(_named(attributes))


def failed(message: str) -> None:
    """Mark the current span as failed (an error the caller answered rather than raised)."""
    if not active():
        return
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    trace.get_current_span().set_status(Status(StatusCode.ERROR, message))


def traceparent() -> str | None:
    """The current span's W3C ``traceparent``, to hand on (a job, an event, an isolated worker)."""
    if not active():
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get(TRACEPARENT)


def begin(name: str, kind: str, headers: Any, **attributes: Any) -> Any:
    """Open a span continuing the ``traceparent`` in ``headers`` (a mapping) and make it current until
    :func:`end` (for a request, whose start and end are separate hooks); None when not tracing."""
    if not active():
        return None
    from opentelemetry import context, trace

    given = headers.get(TRACEPARENT)
    parent = _extracted({TRACEPARENT: given}) if given else None
    opened = _tracer.start_span(name, context=parent, kind=_kinds[kind], attributes=_named(attributes))
    token = context.attach(trace.set_span_in_context(opened, parent))
    return opened, token


def end(handle: Any, status: int | None = None, route: str | None = None) -> None:
    """Close what :func:`begin` opened: its HTTP status, its route (the span is named by it)."""
    if handle is None:
        return
    from opentelemetry import context
    from opentelemetry.trace import Status, StatusCode

    opened, token = handle
    if route is not None:
        opened.update_name(f"{opened.name.split(' ', 1)[0]} {route}")
        opened.set_attribute("http.route", route)
    if status is not None:
        opened.set_attribute("http.response.status_code", status)
        if status >= 500:
            opened.set_status(Status(StatusCode.ERROR, f"answered {status}"))
    opened.end()
    context.detach(token)


def inject(headers: Any) -> None:
    """Add the current span's ``traceparent`` to outgoing ``headers`` (unless the caller set one)."""
    if not active():
        return
    found = traceparent()
    if found and TRACEPARENT not in headers:
        headers[TRACEPARENT] = found


def _named(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword attributes as OpenTelemetry names them (``http__route``: ``http.route``), None left out."""
    return {key.replace("__", "."): value for key, value in attributes.items() if value is not None}


def _extracted(carrier: dict[str, str]) -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract(carrier)

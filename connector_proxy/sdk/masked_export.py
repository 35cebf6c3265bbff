"""A span exporter that masks known secrets (:mod:`.masking`) in a span before another sends it.

Imported only when tracing is on (it needs the OpenTelemetry SDK); it wraps whichever exporter
tracing uses, so the two change apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status

from connector_proxy.sdk.masking import mask


class MaskingExporter(SpanExporter):
    """Masks each span's name, attributes, events and status, then hands it to ``inner``."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([masked(span) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def masked(span: ReadableSpan) -> ReadableSpan:
    """A copy of ``span`` with every string it carries masked."""
    events = [Event(mask(e.name), _attributes(e.attributes), e.timestamp) for e in span.events]
    status = Status(span.status.status_code, mask(span.status.description or "") or None)
    return ReadableSpan(
        name=mask(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_attributes(span.attributes),
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {key: _value(value) for key, value in (attributes or {}).items()}


def _value(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, tuple | list):
        return tuple(mask(item) if isinstance(item, str) else item for item in value)
    return value

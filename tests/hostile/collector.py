"""A fake OTLP/HTTP traces collector: keeps what it was sent, answers as its knobs say."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from werkzeug import Request

from tests.hostile.peer import HostilePeer, Knobs


class HostileCollector(HostilePeer):
    """``/v1/traces``; ``misbehave(Knobs(...))`` makes it slow, a page, garbage, a 500…"""

    def __init__(self) -> None:
        super().__init__()
        self.misbehave(Knobs(content_type="application/x-protobuf"))

    def misbehave(self, knobs: Knobs) -> None:
        self.answer("/v1/traces", self._received, knobs)

    def _received(self, _request: Request) -> bytes:
        return bytes(ExportTraceServiceResponse().SerializeToString())

    def spans(self) -> list[dict[str, Any]]:
        """Every span received, decoded: name, attributes, events (name and attributes)."""
        found: list[dict[str, Any]] = []
        for body in list(self.bodies):
            if not body:
                continue
            try:
                exported = ExportTraceServiceRequest.FromString(body)
            except Exception:  # not a trace export (a stray request)
                continue
            for resource in exported.resource_spans:
                for scope in resource.scope_spans:
                    found.extend(_span(span) for span in scope.spans)
        return found


def _span(span: Any) -> dict[str, Any]:
    return {
        "name": span.name,
        "attributes": {a.key: _value(a.value) for a in span.attributes},
        "events": [(e.name, {a.key: _value(a.value) for a in e.attributes}) for e in span.events],
        "status": span.status.message,
    }


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None

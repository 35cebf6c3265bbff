"""Secret values resolved in this process are masked in log lines and spans, whoever wrote them."""

from __future__ import annotations

import logging
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from connector_proxy.sdk.auth import parse_token_set
from connector_proxy.sdk.masked_export import MaskingExporter
from connector_proxy.sdk.masking import MASK, mask, remember
from connector_proxy.secrets import resolve_reference
from connector_proxy.telemetry import logs


def test_a_resolved_reference_and_a_token_set_are_masked_anywhere_in_a_text() -> None:
    value = resolve_reference("env:MASKED_ONE", {"MASKED_ONE": "masked-one-0123456789"})
    parse_token_set('{"access_token": "access-0123456789", "refresh_token": "refresh-0123456789"}')
    text = f"failed for {value} with access-0123456789, refresh%2D? no: refresh-0123456789"
    assert mask(text) == f"failed for {MASK} with {MASK}, refresh%2D? no: {MASK}"
    remember("short")  # too short to mask: it would hide ordinary words
    assert mask("a short line") == "a short line"


def test_a_traceback_quoting_a_secret_is_masked_in_both_formats() -> None:
    remember("traceback-secret-0123")
    try:
        raise KeyError("traceback-secret-0123")
    except KeyError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "saw %s", ("traceback-secret-0123",), None
        )
        record.exc_info = sys.exc_info()
    for formatter in (logs.JsonFormatter(), logs.TextFormatter()):
        written = formatter.format(record)
        assert "traceback-secret-0123" not in written and MASK in written and "KeyError" in written
        record.exc_text = None  # each formatter formats the traceback anew


def test_spans_are_masked_before_they_are_exported() -> None:
    remember("span-secret-0123456789")
    kept = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(MaskingExporter(kept)))
    tracer = provider.get_tracer("test")
    try:
        with tracer.start_as_current_span("call span-secret-0123456789") as span:
            span.set_attribute("upstream", "https://h/?t=span-secret-0123456789")
            span.set_attribute("listed", ["span-secret-0123456789", "plain"])
            raise RuntimeError("token span-secret-0123456789 refused")
    except RuntimeError:
        pass
    provider.shutdown()
    (exported,) = kept.get_finished_spans()
    assert "span-secret" not in repr(
        (
            exported.name,
            dict(exported.attributes or {}),
            [(e.name, dict(e.attributes or {})) for e in exported.events],
        )
    )
    assert exported.status.description is not None and MASK in exported.status.description
    assert dict(exported.events[0].attributes or {})["exception.message"] == f"token {MASK} refused"


def test_an_isolated_workers_configuration_resolved_elsewhere_is_masked_by_its_schema() -> None:
    from connector_proxy.secrets import remember_secrets

    schema = {"type": "object", "properties": {"token": {"type": "string", "secret": True}, "name": {}}}
    remember_secrets(schema, {"token": "worker-token-0123456789", "name": "plain-name-0123"})
    assert mask("worker-token-0123456789 plain-name-0123") == f"{MASK} plain-name-0123"

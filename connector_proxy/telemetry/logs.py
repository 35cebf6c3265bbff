"""One log format for the daemon, gunicorn and isolated workers, every line redacted.

JSON lines by default when stderr is not a terminal (a collector parses
them), text on a terminal (a person reads them): ``server.log_format``.
Every line carries the ids of the call it belongs to (:class:`CallIds`), so
one service task can be followed through the daemon, its workers and its
upstreams; none carries a parameter, a header value or a token, and
whatever a library writes is redacted (:func:`connector_proxy.telemetry.redaction.redact`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

from connector_proxy.sdk.context import call_ids
from connector_proxy.telemetry.redaction import redact

BASE_FIELDS = ("time", "level", "logger", "message", "exception")
ID_FIELDS = ("request_id", "process_instance_id", "task_id")
# what the access log adds to a line (``extra={"http": {...}}``), in this order
HTTP_FIELDS = ("method", "path", "status", "bytes", "duration_ms", "remote")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(ids)s: %(message)s"


class CallIdsFilter(logging.Filter):
    """Stamps each record with the ids of the work in progress, unless the caller gave them."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = call_ids()
        for name in ID_FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, getattr(ids, name))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the call's ids, the request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        document.update(_ids(record))
        http = getattr(record, "http", None)
        if isinstance(http, Mapping):
            document.update((key, http[key]) for key in HTTP_FIELDS if http.get(key) is not None)
        if record.exc_info:
            document["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(document, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request_id instance/task]: message``, traceback included, redacted."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        ids = _ids(record)
        record.ids = f" [{' '.join(str(value) for value in ids.values())}]" if ids else ""
        return redact(super().format(record))


def formatter(log_format: str) -> logging.Formatter:
    """``auto`` is JSON unless stderr is a terminal."""
    if log_format == "auto":
        log_format = "text" if sys.stderr.isatty() else "json"
    return TextFormatter() if log_format == "text" else JsonFormatter()


def handler(log_format: str) -> logging.Handler:
    """A stderr handler writing our format, stamping call ids."""
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(formatter(log_format))
    stream.addFilter(CallIdsFilter())
    return stream


def configure(level: str | int, log_format: str) -> None:
    """The root handler: libraries' loggers propagate to it."""
    logging.basicConfig(level=level, handlers=[handler(log_format)], force=True)


def adopt(logger: logging.Logger, log_format: str) -> None:
    """A logger someone else set up (gunicorn's) writes our format to stderr instead."""
    if logger.handlers:
        logger.handlers = [handler(log_format)]


def relog(line: str, fallback: logging.Logger, **extra: Any) -> None:
    """Write a line an isolated worker printed: its JSON record as ours, anything else as text."""
    record = _json_record(line)
    if record is None:
        fallback.info("%s", line, extra=extra)
        return
    level = logging.getLevelName(str(record.get("level", "info")).upper())
    logger = logging.getLogger(str(record.get("logger") or fallback.name))
    ids = {name: record.get(name) for name in ID_FIELDS}
    logger.log(level if isinstance(level, int) else logging.INFO, "%s", record["message"], extra=extra | ids)


def _json_record(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("message"), str) else None


def _ids(record: logging.LogRecord) -> dict[str, Any]:
    return {name: value for name in ID_FIELDS if (value := getattr(record, name, None)) is not None}


def _iso(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"

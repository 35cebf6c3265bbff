"""One misbehaving HTTP server: answers by path, each with its knobs, every request recorded."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response
from werkzeug.serving import WSGIRequestHandler, make_server

Answer = Callable[[Request], Any]  # a JSON document, bytes, or a werkzeug Response


@dataclass
class Knobs:
    """How an answer misbehaves; all off: a plain, prompt answer."""

    status: int = 200
    slow: float = 0.0  # seconds before the answer starts
    drip: float = 0.0  # seconds between bytes of the body
    huge: int = 0  # the body is padded to at least this many bytes
    loop: bool = False  # a redirect to the same path
    html: bool = False  # a crashed server's HTML page instead
    garbage: bool = False  # random bytes under the declared media type
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class HostilePeer:
    """A threaded server on 127.0.0.1: ``answer(path, ...)`` sets what a path answers."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []  # (method, the raw path and query as sent)
        self.bodies: list[bytes] = []
        self._routes: dict[str, tuple[Answer, Knobs]] = {}
        self._prefixes: dict[str, tuple[Answer, Knobs]] = {}
        self.fallback: tuple[Answer, Knobs] = (lambda _r: {"error": "nothing here"}, Knobs(status=404))
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def answer(self, path: str, what: Answer | Any, knobs: Knobs | None = None) -> None:
        """``path`` (or every path under it, when it ends with ``*``) answers ``what``."""
        handler = what if callable(what) else (lambda _request, _what=what: _what)
        if path.endswith("*"):
            self._prefixes[path[:-1]] = (handler, knobs or Knobs())
        else:
            self._routes[path] = (handler, knobs or Knobs())

    def paths(self) -> list[str]:
        return [path for _method, path in self.seen]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostilePeer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _route(self, path: str) -> tuple[Answer, Knobs]:
        if path in self._routes:
            return self._routes[path]
        for prefix, found in sorted(self._prefixes.items(), key=lambda item: -len(item[0])):
            if path.startswith(prefix):
                return found
        return self.fallback

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        raw = environ.get("REQUEST_URI") or environ.get("RAW_URI") or request.full_path
        self.seen.append((request.method, raw))
        self.bodies.append(request.get_data())
        handler, knobs = self._route(request.path)
        return self._respond(request, handler, knobs)(environ, start_response)

    def _respond(self, request: Request, handler: Answer, knobs: Knobs) -> Response:
        if knobs.slow:
            time.sleep(knobs.slow)  # a duration, not an event: a peer that must be slow
        if knobs.loop:
            return Response("", status=302, headers={"Location": request.full_path})
        if knobs.html:
            page = b"<html><body><h1>Internal Server Error</h1></body></html>"
            return Response(page, status=500, content_type="text/html")
        produced = handler(request)
        if isinstance(produced, Response):
            return produced
        body = produced if isinstance(produced, bytes) else json.dumps(produced).encode()
        if knobs.garbage:
            body = os.urandom(max(64, len(body) // 4))
        if knobs.huge and len(body) < knobs.huge:
            body = body + b" " * (knobs.huge - len(body))  # still the same JSON, only longer
        headers = dict(knobs.headers)
        if knobs.drip:
            return Response(
                _dripped(body, knobs.drip), knobs.status, headers, content_type=knobs.content_type
            )
        return Response(body, knobs.status, headers, content_type=knobs.content_type)


def _dripped(body: bytes, every: float) -> Iterator[bytes]:
    for index in range(len(body)):
        yield body[index : index + 1]
        time.sleep(every)  # a duration, not an event: a peer dripping its body


class _Quiet(WSGIRequestHandler):
    def log(self, *_: Any) -> None:  # a line per request would drown the test's output
        return None

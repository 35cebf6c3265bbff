"""A fake remote connector proxy ([proxies.<name>]) whose catalog and answers a test steers."""

from __future__ import annotations

import itertools
import json
from typing import Any

from werkzeug import Request, Response

from tests.hostile.peer import HostilePeer, Knobs

# the catastrophic patterns of OWASP's ReDoS page, with an input each that backtracks without end
CATASTROPHIC: list[tuple[str, str]] = [
    ("^(a+)+$", "a" * 30_000 + "!"),
    ("^([a-zA-Z]+)*$", "a" * 30_000 + "1"),
    ("^(a|aa)+$", "a" * 30_000 + "!"),
    ("^(a|a?)+$", "a" * 30_000 + "!"),
    ("^(.*a){12}$", "a" * 30_000 + "!"),
    ("^(([a-z])+.)+[A-Z]([a-z])+$", "a" * 30_000 + "!"),
    (
        "^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$",
        "a" * 30_000 + "!",
    ),
]


def envelope(body: Any, status: int = 200) -> dict[str, Any]:
    """The host's v2 envelope of a successful call."""
    return {
        "command_response": {"body": body, "mimetype": "application/json", "http_status": status},
        "error": None,
        "command_response_version": 2,
        "spiff__logs": [],
    }


class HostileRemote(HostilePeer):
    """Serves ``/v1/commands`` (``commands``, or ``big(n, changing=True)``), ``/v1/auths``,
    typeahead (records what it was asked) and ``/v1/do/<id>`` (``calls[id]``: a handler)."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[dict[str, Any]] = []
        self.auths: list[dict[str, Any]] = []
        self.catalog_knobs = Knobs()
        self._changing: tuple[bytes, itertools.count[int]] | None = None
        self.reads = 0
        self.answer("/v1/commands", self._catalog)
        self.answer("/v1/auths", lambda _r: self.auths)
        self.answer("/v1/typeahead/*", lambda _r: ["suggested"])
        self.answer("/v1/do/*", lambda _r: envelope({"done": True}))

    def catalog(self, knobs: Knobs) -> None:
        """How ``/v1/commands`` misbehaves from now on."""
        self.answer("/v1/commands", self._catalog, knobs)

    def big(self, count: int, changing: bool = False) -> None:
        """A catalog of ``count`` commands of one connector (``big``), each with three parameters;
        ``changing``: every read differs from the one before (a description carries a counter)."""
        self.commands = _big(count, "0")
        template = json.dumps(_big(count, "GENERATION")).encode()
        self._changing = (template, itertools.count()) if changing else None

    def patterns(self, listed: list[str]) -> None:
        """One command per pattern (``evil/P<i>``): a string parameter ``value`` that must match it."""
        self.commands = [
            {
                "id": f"evil/P{index}",
                "parameters": [
                    {"id": "value", "required": True, "schema": {"type": "string", "pattern": pattern}}
                ],
            }
            for index, pattern in enumerate(listed)
        ]

    def refs(self, listed: list[str]) -> None:
        """One command per ``$ref`` (``evil/R<i>``): a parameter ``value`` whose schema is that ``$ref``
        (a URL the daemon must never fetch, a file, a pointer to nothing)."""
        self.commands = [
            {"id": f"evil/R{index}", "parameters": [{"id": "value", "schema": {"$ref": ref}}]}
            for index, ref in enumerate(listed)
        ]

    def _catalog(self, _request: Request) -> Any:
        self.reads += 1
        if self._changing is not None:  # made from bytes: a 3 MB json.dumps would hold the tests' GIL
            template, counter = self._changing
            body = template.replace(b"GENERATION", str(next(counter)).encode())
            return Response(body, content_type=self.catalog_knobs.content_type)
        return self.commands


def _big(count: int, generation: str) -> list[dict[str, Any]]:
    parameter = {"type": "string", "maxLength": 200, "description": "a parameter of a big catalog"}
    return [
        {
            "id": f"big/Command{index}",
            "description": f"command {index} of a catalog that changes (generation {generation})",
            "parameters": [
                {"id": name, "required": name == "first", "schema": parameter}
                for name in ("first", "second", "third")
            ],
        }
        for index in range(count)
    ]

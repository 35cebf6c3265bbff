"""Proxies: every configured remote's catalog as last read, merged with ours, refreshed in the background.

A remote's connector is served by the first source that offers it: our own
ready connector first, then the proxies in the order the configuration lists
them; each one left out so is reported (``shadowed``), as discovery reports a
duplicate. What is served is rebuilt whole after each reading and swapped in
at once, so a request reads one consistent view and never waits on a remote.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from connector_proxy.calls.registry import Registry
from connector_proxy.config import ProxySettings, Settings
from connector_proxy.host.jsontext import dumps
from connector_proxy.process.concurrency import off_the_loop
from connector_proxy.proxies.catalogs import (
    CatalogTooLarge,
    RemoteCatalog,
    RemoteCommand,
    UnreadableCatalog,
    digest_of,
    read_catalog,
)
from connector_proxy.proxies.client import AnswerTooLarge, Remote
from connector_proxy.sdk.errors import CommandError

log = logging.getLogger(__name__)
FIRST_READ_SECONDS = 5.0  # at start-up, a remote that does not answer by then is read in the background


@dataclass
class ProxyStatus:
    """What the operator sees of one remote: GET /v1/proxies, readiness, the page, ``check``."""

    name: str
    origin: str
    mode: str
    state: str = "not_read"  # ready, unreachable, refused, unreadable, too_large
    detail: str | None = None
    read_at: float | None = None  # when its catalog was last read (unix time)
    tried_at: float | None = None
    commands: int = 0
    shadowed: tuple[str, ...] = ()  # its connectors another source serves instead
    skipped: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return dict(self.__dict__, shadowed=list(self.shadowed), skipped=list(self.skipped))


@dataclass(frozen=True)
class View:
    """What requests read, swapped whole: the remote commands served, and the merged answers."""

    commands: Mapping[str, RemoteCommand] = field(default_factory=lambda: MappingProxyType({}))
    catalog_json: bytes = b"[]"
    auths_json: bytes = b"[]"
    descriptions: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))


class Proxies:
    """The configured remotes of one daemon process, and the view their catalogs make with ours."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.remotes = {name: Remote(proxy) for name, proxy in settings.proxies.items()}
        self.statuses = {n: ProxyStatus(n, r.origin, r.settings.mode) for n, r in self.remotes.items()}
        self._local = frozenset(registry.ready)
        self._local_catalog = json.loads(registry.catalog_json) if self.remotes else []
        self._local_auths = json.loads(registry.auths_json) if self.remotes else []
        self._catalogs: dict[str, RemoteCatalog] = {}
        self._lock = threading.Lock()  # one rebuild at a time; readers never take it
        self.view = View(catalog_json=registry.catalog_json, auths_json=registry.auths_json)
        self.background = Refresher(self) if self.remotes else None

    def find(self, command_id: str) -> tuple[Remote, RemoteCommand] | None:
        """The remote serving a command id we do not serve ourselves."""
        command = self.view.commands.get(command_id)
        return None if command is None else (self.remotes[command.proxy], command)

    def expected(self, connector: str) -> Remote | None:
        """The remote named to serve this connector whose catalog has not been read yet (503, not 404)."""
        unread = (r for name, r in self.remotes.items() if self.statuses[name].read_at is None)
        return next((remote for remote in unread if connector in remote.settings.connectors), None)

    def serving(self, connector: str) -> Remote | None:
        """The remote that serves a connector (its typeahead and sign-ins go there too)."""
        for command in self.view.commands.values():
            if command.connector == connector:
                return self.remotes[command.proxy]
        return None

    def problems(self) -> list[dict[str, Any]]:
        return [
            {"component": f"proxy {s.name}", "state": s.state, "detail": s.detail}
            for s in self.statuses.values()
            if s.state != "ready"
        ]

    def read_all(self, timeout: float) -> None:
        """Every remote at once: start-up (and a reload) waits for the slowest, not for their sum."""
        if len(self.remotes) < 2:
            for name in self.remotes:
                self.read(name, timeout)
            return
        with ThreadPoolExecutor(max_workers=min(8, len(self.remotes))) as pool:
            list(pool.map(lambda name: self.read(name, timeout), self.remotes))

    def read(self, name: str, timeout: float) -> None:
        """Read one remote's catalog now; a failure keeps what was read before and says why.

        An unchanged catalog (the same digest) is not parsed again; a changed one is parsed and the
        view rebuilt in a real thread (``off_the_loop``): 6,000 commands take a second of CPU, which
        must not stop the worker's event loop (its liveness, its calls) for that long."""
        remote, status = self.remotes[name], self.statuses[name]
        status.tried_at = time.time()
        try:
            commands, auths = _fetch(remote, timeout)
            known = self._catalogs.get(name, RemoteCatalog()).digest
            catalog = off_the_loop(lambda: _changed(known, remote.settings, commands, auths))
            if catalog is None:  # as read before: nothing to parse or rebuild
                status.state, status.detail, status.read_at = "ready", None, time.time()
                return
        except (CommandError, UnreadableCatalog) as problem:
            state = _state_of(problem)
            if (status.state, status.detail) != (state, str(problem)):
                log.warning("proxy %s: its catalog could not be read: %s", name, problem)
            status.state, status.detail = state, str(problem)
            return
        with self._lock:
            changed = self._catalogs.get(name, RemoteCatalog()).digest != catalog.digest
            self._catalogs[name] = catalog
            status.state, status.detail, status.read_at = "ready", None, catalog.read_at
            status.skipped = catalog.skipped
            if changed:
                off_the_loop(self._rebuild)
        if changed:
            # the catalog's ~30 objects a command are long-lived and acyclic (freed by their count when
            # replaced): left to the collector, each full collection would scan them all, holding the
            # interpreter, and the event loop, for 100 ms and more
            off_the_loop(gc.freeze)

    def _rebuild(self) -> None:
        served, owner = self._sources()
        remote_auths = [a for n in self.remotes for a in self._catalogs.get(n, RemoteCatalog()).auths]
        served_auths = [a for a in remote_auths if owner.get(_of(a)) == a["proxy"]]
        descriptions = {cid: dumps(dict(c.entry)) for cid, c in served.items()}
        # entry by entry, as a list's JSON is written: one dumps of 3 MB would hold the event loop
        written = [*((e["id"], dumps(e)) for e in self._local_catalog), *descriptions.items()]
        self.view = View(
            commands=MappingProxyType(dict(sorted(served.items()))),
            catalog_json=b"[" + b",".join(text for _id, text in sorted(written)) + b"]",
            auths_json=dumps([*self._local_auths, *served_auths]),
            descriptions=MappingProxyType(descriptions),
        )

    def _sources(self) -> tuple[dict[str, RemoteCommand], dict[str, str]]:
        """The remote commands served, and who serves each connector: ours first, then the proxies in
        the configuration's order; each proxy's statuses say what it serves and what it was left."""
        served: dict[str, RemoteCommand] = {}
        owner: dict[str, str] = {name: "this daemon" for name in self._local}
        for name in self.remotes:
            shadowed = set()
            for command in self._catalogs.get(name, RemoteCatalog()).commands.values():
                if owner.setdefault(command.connector, name) != name:
                    shadowed.add(command.connector)
                else:
                    served[command.id] = command
            status = self.statuses[name]
            status.shadowed = tuple(sorted(shadowed))
            status.commands = sum(1 for command in served.values() if command.proxy == name)
            for connector in status.shadowed:
                log.warning("proxy %s: connector %s is served by %s", name, connector, owner[connector])
        return served, owner


def _fetch(remote: Remote, timeout: float) -> tuple[bytes, bytes | None]:
    """The bodies of ``/v1/commands`` and ``/v1/auths`` (None when it has none), within
    ``max_catalog_bytes`` each."""
    limit = min(remote.settings.max_catalog_bytes, remote.settings.max_response_bytes)
    try:
        answer = remote.request("GET", "/v1/commands", timeout, max_bytes=limit)
        auths = remote.request("GET", "/v1/auths", timeout, max_bytes=limit) if answer.status == 200 else None
    except AnswerTooLarge:
        named = f"proxies.{remote.settings.name}.max_catalog_bytes"
        raise CatalogTooLarge(f"its catalog is larger than {named} ({limit} bytes)") from None
    if answer.status in (401, 403):
        key = f"proxies.{remote.settings.name}.api_key"
        raise UnreadableCatalog(f"it refused our key ({key}): {answer.status}")
    if answer.status != 200:
        raise UnreadableCatalog(f"/v1/commands answered {answer.status}")
    return answer.body, auths.body if auths is not None and auths.status == 200 else None


def _changed(known: str, proxy: ProxySettings, commands: bytes, auths: bytes | None) -> RemoteCatalog | None:
    """The catalog read, or None when its digest is the one ``known``."""
    return None if digest_of(commands, auths) == known else read_catalog(proxy, commands, auths)


def _state_of(problem: Exception) -> str:
    if isinstance(problem, CatalogTooLarge):
        return "too_large"
    if isinstance(problem, CommandError):
        return "unreachable"
    return "refused" if "refused our key" in str(problem) else "unreadable"


def _of(auth: Mapping[str, Any]) -> str:
    return str(auth["id"]).partition("/")[0]


class Refresher:
    """Each worker process reads every remote again every ``refresh_seconds`` (a Background)."""

    def __init__(self, proxies: Proxies) -> None:
        self.proxies = proxies
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="proxy-catalogs", daemon=True)
        self._thread.start()

    def stop(self, grace: float) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(grace)

    def _run(self) -> None:
        statuses, started = self.proxies.statuses, time.monotonic()
        # a catalog the master read before the fork is this process's too: read again when it is due
        due = {
            name: started + remote.settings.refresh_seconds if statuses[name].state == "ready" else 0.0
            for name, remote in self.proxies.remotes.items()
        }
        while not self._stop.is_set():
            now = time.monotonic()
            for name, remote in self.proxies.remotes.items():
                if now >= due[name]:
                    self.proxies.read(name, remote.settings.timeout)
                    due[name] = time.monotonic() + remote.settings.refresh_seconds
            self._stop.wait(max(0.05, min(due.values()) - time.monotonic()))

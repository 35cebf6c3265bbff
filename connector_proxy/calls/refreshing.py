"""A connector's configuration and resources, set up again when a secret they were made from changes.

A reference to a secret kept elsewhere (a file, AWS Secrets Manager, a vault) is
read at start-up, then again once ``secrets.cache_seconds`` have passed, by the
first call that needs the connector. If a value changed, the connector's setup
runs again with it (an isolated connector's workers are replaced between calls),
so a rotated secret is in use without a restart. A provider that fails then
changes nothing: the values read before stay in use, and it is asked again soon.
References to the environment never change in a running daemon and are not read again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)
RETRY_SECONDS = 30.0  # after a failed read, the next try: soon, but not on every call
Configure = Callable[[], Mapping[str, Any]]  # the configuration, references read now; raises if it cannot
SetUp = Callable[[Mapping[str, Any]], Any]  # the resources for a configuration; raises if it cannot


class Refreshing:
    """The current (configuration, resources) of one connector in this process."""

    def __init__(
        self,
        name: str,
        config: Mapping[str, Any],
        resources: Any,
        every: float | None = None,
        configure: Configure | None = None,
        set_up: SetUp | None = None,
    ) -> None:
        self.name = name
        self._state = (config, resources)
        self._every = every if configure is not None and set_up is not None else None
        self._configure = configure
        self._set_up = set_up
        self._due = time.monotonic() + self._every if self._every else None
        self._lock = threading.Lock()

    @property
    def config(self) -> Mapping[str, Any]:
        return self.current()[0]

    @property
    def resources(self) -> Any:
        return self.current()[1]

    def in_use(self) -> dict[str, Any]:
        """``config`` and ``resources``, one consistent pair: ``Context(**live.in_use(), …)``."""
        config, resources = self.current()
        return {"config": config, "resources": resources}

    def current(self) -> tuple[Mapping[str, Any], Any]:
        if self._due is not None and time.monotonic() >= self._due:
            self._refresh()
        return self._state

    def _refresh(self) -> None:
        with self._lock:  # one caller reads the secrets again; the others wait for it, briefly
            now = time.monotonic()
            if self._due is None or now < self._due or self._configure is None or self._set_up is None:
                return
            try:
                config = self._configure()
                changed = config != self._state[0]
                if changed:
                    self._state = (config, self._set_up(config))
            except Exception as error:  # a provider or the setup failed: keep what works
                self._due = now + min(RETRY_SECONDS, self._every or RETRY_SECONDS)
                log.warning(
                    "connector %s: its secrets could not be read again (%s); those read before stay in use",
                    self.name,
                    getattr(error, "detail", type(error).__name__),
                )
                return
            self._due = now + (self._every or 0)
        if changed:
            log.info("connector %s: a secret it uses changed; it is set up again with it", self.name)
